//! The deployment's keys, read at cold start from Secrets Manager under each function's own
//! credentials (moto's Secrets Manager behind the strict stand-in, which holds the call to the
//! function's policy in template.yaml), and the environment's direct value for local stacks.

use shared::aws::secrets::{secret_setting, secret_value};
use shared::aws::{API_FUNCTION, WORKER_FUNCTION};

#[tokio::test]
async fn each_function_reads_its_keys_from_secrets_manager() {
    let clients = ocpp_bulk_tests::aws::clients().await;
    let admin = aws_sdk_secretsmanager::Client::new(&clients.config);
    let prefix = format!("ocpp-bulk-secrets-{}", uuid::Uuid::new_v4().simple());
    let mut arns = Vec::new();
    for (name, value) in [("CursorSecret", "cursor-key-0123456789"), ("WebhookKey", "webhook-key-0123456789")] {
        let created = admin
            .create_secret()
            .name(format!("{prefix}-{name}"))
            .secret_string(value)
            .send()
            .await
            .expect("create the secret");
        arns.push(created.arn.expect("its ARN"));
    }
    // As the template grants: the api reads both, the worker the webhook key.
    let api = clients.signed_as(API_FUNCTION);
    assert_eq!(secret_value(&api, &arns[0]).await.expect("the api reads the cursor key"), "cursor-key-0123456789");
    assert_eq!(secret_value(&api, &arns[1]).await.expect("the api reads the webhook key"), "webhook-key-0123456789");
    let worker = clients.signed_as(WORKER_FUNCTION);
    assert_eq!(secret_value(&worker, &arns[1]).await.expect("the worker reads it too"), "webhook-key-0123456789");

    let missing = secret_value(&api, &format!("{}-gone", arns[0])).await.expect_err("no such secret");
    assert!(missing.to_string().contains("secretsmanager"), "{missing}");
    // No variable of either form: cold start fails, naming what is missing.
    let unset = secret_setting(&api, "OCPP_BULK_TEST_UNSET_SECRET").await.expect_err("unset");
    assert_eq!(unset, "missing environment variable OCPP_BULK_TEST_UNSET_SECRET_ARN");
}
