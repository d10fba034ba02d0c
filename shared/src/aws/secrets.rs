//! Secrets read at cold start from Secrets Manager (feature `secrets`: the api and the worker).
//!
//! The template used to resolve each secret into the function's environment
//! (`{{resolve:secretsmanager:…}}`), which writes the plaintext into the function's configuration:
//! anyone allowed `lambda:GetFunctionConfiguration` reads it there, and CloudFormation notes that a
//! resolved value "may show up in the service whose resource it's being used in". The environment now
//! holds the secret's ARN (`{NAME}_ARN`), and the function reads the value with GetSecretValue once,
//! at cold start, under its own role. `{NAME}` itself, when set, is taken as the value: the local
//! stack and `cargo lambda watch` (Cargo.toml's `[workspace.metadata.lambda.env]`) set it directly.

use super::errors::sdk_error;
use super::AwsClients;
use crate::error::{Error, Result};

/// The value of secret `arn` (its SecretString).
pub async fn secret_value(clients: &AwsClients, arn: &str) -> Result<String> {
    let client = aws_sdk_secretsmanager::Client::new(&clients.config);
    let output = client.get_secret_value().secret_id(arn).send().await.map_err(|e| sdk_error("secretsmanager", e))?;
    output
        .secret_string
        .filter(|value| !value.is_empty())
        .ok_or_else(|| Error::internal("secretsmanager", format!("secret {arn} holds no string")))
}

/// A function's secret setting `name`: the variable itself when set (local stacks), else the secret
/// its `{name}_ARN` names, read now. An error names what is missing or failed.
pub async fn secret_setting(clients: &AwsClients, name: &str) -> std::result::Result<String, String> {
    if let Ok(value) = super::required_env(name) {
        return Ok(value);
    }
    let arn =
        super::required_env(&format!("{name}_ARN")).map_err(|_| format!("missing environment variable {name}_ARN"))?;
    secret_value(clients, &arn).await.map_err(|err| format!("reading {name} from Secrets Manager: {err}"))
}
