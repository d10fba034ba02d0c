//! `ConnectionGateway` on API Gateway's management API: PostToConnection and DeleteConnection.
//! A `GoneException` (or a bare HTTP 410) means the charger is gone; a `LimitExceededException`
//! (429) that outlasts the SDK's retries means nothing was delivered, for now.

use async_trait::async_trait;
use aws_sdk_apigatewaymanagement::error::SdkError;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use aws_sdk_apigatewaymanagement::Client;

use super::errors::sdk_error;
use crate::error::Result;
use crate::ports::{ConnectionGateway, PostError};

pub struct ManagementApiGateway {
    client: Client,
}

impl ManagementApiGateway {
    pub fn new(client: Client) -> Self {
        ManagementApiGateway { client }
    }
}

/// Whether API Gateway answered `code`, or a bare HTTP `status` (the local stand-in's shape too).
fn answered<E: aws_sdk_apigatewaymanagement::error::ProvideErrorMetadata>(
    err: &SdkError<E, aws_smithy_runtime_api::http::Response>,
    code: &str,
    status: u16,
) -> bool {
    use aws_sdk_apigatewaymanagement::error::ProvideErrorMetadata;
    err.code() == Some(code) || err.raw_response().is_some_and(|r| r.status().as_u16() == status)
}

#[async_trait]
impl ConnectionGateway for ManagementApiGateway {
    async fn post(&self, connection_id: &str, frame: &str) -> Result<(), PostError> {
        let sent = self
            .client
            .post_to_connection()
            .connection_id(connection_id)
            .data(Blob::new(frame.as_bytes()))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(err) if answered(&err, "GoneException", 410) => Err(PostError::Gone),
            Err(err) if answered(&err, "LimitExceededException", 429) => Err(PostError::Throttled),
            Err(err) => Err(PostError::Failed(sdk_error("apigatewaymanagement", err))),
        }
    }

    async fn close(&self, connection_id: &str) -> Result<()> {
        match self.client.delete_connection().connection_id(connection_id).send().await {
            Ok(_) => Ok(()),
            Err(err) if answered(&err, "GoneException", 410) => Ok(()),
            Err(err) => Err(sdk_error("apigatewaymanagement", err)),
        }
    }
}
