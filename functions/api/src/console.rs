//! The console: operators' pages at `/console`, plain HTML, CSS and JavaScript modules
//! (`functions/api/console/`, read by a newcomer as they are) compiled into the binary and served by
//! the API itself, on Lambda as on `serve`. The pages hold no data: every figure they show comes from
//! the API's own routes, with the bearer token the operator signs in with (kept in the tab's
//! sessionStorage, never in a URL or a cookie). No route here is authenticated, and none reads a
//! store.
//!
//! Every page goes out with a Content-Security-Policy that runs only these files' scripts (no
//! inline script or style, no eval), talks only to this origin and may not be framed; the pages put
//! what a charger sent into the document as text, never as HTML.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// One file of the console.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

macro_rules! assets {
    ($(($name:literal, $content_type:expr)),* $(,)?) => {
        [$(Asset { name: $name, content_type: $content_type, body: include_str!(concat!("../console/", $name)) }),*]
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

static ASSETS: [Asset; 12] = assets![
    ("index.html", HTML),
    ("console.css", "text/css; charset=utf-8"),
    ("app.js", JS),
    ("api.js", JS),
    ("dom.js", JS),
    ("signin.js", JS),
    ("runs.js", JS),
    ("run.js", JS),
    ("fleet.js", JS),
    ("send.js", JS),
    ("widgets.js", JS),
    ("favicon.svg", "image/svg+xml"),
];

/// Each file's validator: a hash of its bytes, the same in every process of one build, so a
/// browser revalidates (`Cache-Control: no-cache`) and gets a 304 while the file is unchanged.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            let mut hasher = DefaultHasher::new();
            asset.body.hash(&mut hasher);
            format!("\"{:016x}\"", hasher.finish())
        })
        .collect()
});

/// `/console` (the page, whatever view its fragment names) and `/console/{file}`.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/console", get(|headers: HeaderMap| async move { serve("index.html", &headers) })).route(
        "/console/{file}",
        get(|Path(file): Path<String>, headers: HeaderMap| async move { serve(&file, &headers) }),
    )
}

fn serve(name: &str, request: &HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|asset| asset.name == name) else {
        let mut response = (StatusCode::NOT_FOUND, "Not found.").into_response();
        secure(response.headers_mut());
        return response;
    };
    let (asset, etag) = (&ASSETS[index], &ETAGS[index]);
    let fresh = request.get(header::IF_NONE_MATCH).and_then(|value| value.to_str().ok()).is_some_and(|tags| {
        tags.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
    });
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    };
    let headers = response.headers_mut();
    secure(headers);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    response
}

/// What every console answer carries: the policy, no type sniffing, no referrer.
fn secure(headers: &mut HeaderMap) {
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_served_with_the_policy_and_a_validator() {
        for asset in &ASSETS {
            let response = serve(asset.name, &HeaderMap::new());
            assert_eq!(response.status(), StatusCode::OK, "{}", asset.name);
            assert_eq!(response.headers()[header::CONTENT_SECURITY_POLICY], CONTENT_SECURITY_POLICY);
            assert!(response.headers().contains_key(header::ETAG));
        }
        assert_eq!(serve("../Cargo.toml", &HeaderMap::new()).status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn an_unchanged_file_is_a_304() {
        let first = serve("app.js", &HeaderMap::new());
        let mut request = HeaderMap::new();
        request.insert(header::IF_NONE_MATCH, first.headers()[header::ETAG].clone());
        assert_eq!(serve("app.js", &request).status(), StatusCode::NOT_MODIFIED);
        let weak = format!("\"other\", W/{}", first.headers()[header::ETAG].to_str().unwrap());
        request.insert(header::IF_NONE_MATCH, HeaderValue::from_str(&weak).unwrap());
        assert_eq!(serve("app.js", &request).status(), StatusCode::NOT_MODIFIED, "a weak match is a match for a GET");
        request.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"stale\""));
        assert_eq!(serve("app.js", &request).status(), StatusCode::OK);
    }

    #[test]
    fn no_page_runs_inline_script_or_style() {
        for asset in ASSETS.iter().filter(|asset| asset.name.ends_with(".html")) {
            assert!(!asset.body.contains("<script>"), "{} has an inline script", asset.name);
            assert!(!asset.body.contains("style="), "{} has an inline style", asset.name);
            assert!(!asset.body.contains("onclick"), "{} has an inline handler", asset.name);
        }
    }
}
