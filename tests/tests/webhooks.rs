//! Run webhooks through the API, on both backends, as a deployment on AWS runs them: a callback
//! must be public https, and a signing secret must exist first. (Deliveries to a real receiver that
//! checks signatures: tests/python/test_webhooks.py, on a local stack that allows private receivers.)

use ocpp_bulk_tests::harness::{fleet, Backend, TestStack, ALICE, BOB};
use serde_json::json;

const BULK: &str = "/v3/chargers/commands/bulk";

async fn callbacks_must_be_public_https_and_signed(backend: Backend) {
    let stack = TestStack::start(backend, &fleet(1)).await;
    let body = |url: &str| json!({"command": "ClearCache", "charger_ids": ["x"], "callback_url": url});
    let refused = |answer: &(u16, serde_json::Value)| -> String {
        assert_eq!(answer.0, 422, "{}", answer.1);
        answer.1["errors"]["callback_url"][0].as_str().unwrap_or_default().to_owned()
    };

    let no_secret = stack.request("POST", BULK, Some(ALICE), Some(body("https://93.184.216.34/hook"))).await;
    assert!(refused(&no_secret).contains("webhook signing secret"), "{}", no_secret.1);
    let (status, secret) = stack.request("POST", "/v3/webhooks/secret", Some(ALICE), None).await;
    assert_eq!(status, 201, "{secret}");
    let shown = secret["data"]["secret"].as_str().expect("secret").to_owned();
    assert!(shown.starts_with("whsec_") && shown.len() == 70);
    let (_, again) = stack.request("POST", "/v3/webhooks/secret", Some(ALICE), None).await;
    assert_ne!(again["data"]["secret"].as_str(), Some(shown.as_str()), "a rotation makes a new secret");
    let (_, bobs) = stack.request("POST", "/v3/webhooks/secret", Some(BOB), None).await;
    assert_ne!(bobs["data"]["secret"], again["data"]["secret"], "per user");

    for (url, reason) in [
        ("http://93.184.216.34/hook", "https"),
        ("https://127.0.0.1/hook", "public address"),
        ("https://169.254.169.254/latest/meta-data/", "public address"),
        ("https://[::1]/hook", "public address"),
        ("https://10.0.0.8/hook", "public address"),
        ("https://localhost/hook", "public address"),
        ("https://user:pw@93.184.216.34/", "credentials"),
        ("not a url", "absolute URL"),
    ] {
        let answer = stack.request("POST", BULK, Some(ALICE), Some(body(url))).await;
        let message = refused(&answer);
        assert!(message.contains(reason), "{url}: {message}");
    }
    // (A public receiver is accepted: `address` unit tests; no test here calls the internet.)
}

ocpp_bulk_tests::on_both_backends!(callbacks_must_be_public_https_and_signed);
