//! Run webhooks on the API's side (`shared::webhook`): a POST's `callback_url` is checked before the
//! run exists (form, where it resolves, a signing secret to sign with), and `POST /v3/webhooks/secret`
//! rotates the caller's signing secret, shown this once.

use serde_json::{json, Value};
use shared::domain::Identity;
use shared::webhook::{address, Webhook};
use shared::{Error, Result};

use crate::ApiContext;

/// The run's webhook, if `url` may be called: https (locally also http, when allowed), resolving
/// only to addresses the deployment allows, and the caller has a signing secret.
pub async fn checked(ctx: &ApiContext, caller: &Identity, url: &str, progress: bool) -> Result<Webhook> {
    let invalid = |message: String| Error::invalid("callback_url", message);
    let target = address::parse(url, ctx.webhook_policy).map_err(invalid)?;
    address::resolve(&target, ctx.webhook_policy).await.map_err(invalid)?;
    if ctx.webhook_secrets.secret_version(&caller.user).await?.is_none() {
        return Err(invalid(
            "Create your webhook signing secret first (POST /v3/webhooks/secret): events are signed with it."
                .to_owned(),
        ));
    }
    Ok(Webhook::new(target.url, progress))
}

/// A new signing secret for the caller; the one before stops signing at once.
pub async fn rotate(ctx: &ApiContext, caller: &Identity) -> Result<Value> {
    let version = ctx.webhook_secrets.rotate_secret(&caller.user).await?;
    tracing::info!(user = %caller.user, version, "webhook secret rotated");
    Ok(json!({ "data": {
        "secret": ctx.webhook_key.user_secret(&caller.user, version),
        "version": version,
        "header": shared::webhook::SIGNATURE_HEADER,
        "scheme": "t={unix seconds},v1={hex HMAC-SHA256(secret, \"{t}.{body}\")}",
    }}))
}
