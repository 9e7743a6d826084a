//! Microsoft identity platform v2.0: `/{tenant}/oauth2/v2.0/authorize` and `/{tenant}/oauth2/v2.0/token` (B1).

use std::collections::HashMap;
use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::Utc;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::state::{CodeGrant, random_guid, random_string};
use super::{MicrosoftConsent, MicrosoftEmulator};

fn parse_form(text: &str) -> HashMap<String, String> {
    web::Query::<HashMap<String, String>>::from_query(text).map(|q| q.into_inner()).unwrap_or_default()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The sign-in page's error screen (the browser stays at Microsoft; nothing is redirected).
fn error_page(code: u32, message: &str) -> HttpResponse {
    HttpResponse::BadRequest().content_type("text/html; charset=utf-8").body(format!(
        "<!doctype html><html><head><title>Sign in to your account</title></head><body>\
         <h1>Sorry, but we're having trouble signing you in.</h1><p>AADSTS{code}: {}</p></body></html>",
        escape(message)
    ))
}

fn redirect_with(redirect_uri: &str, params: &[(&str, String)]) -> HttpResponse {
    match reqwest::Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut pairs = url.query_pairs_mut();
                for (k, v) in params {
                    pairs.append_pair(k, v);
                }
            }
            HttpResponse::Found().insert_header(("Location", url.to_string())).finish()
        }
        Err(_) => error_page(50011, "The redirect URI specified in the request is not a valid URL."),
    }
}

/// Scopes that are OpenID Connect or `offline_access`, not Graph permissions.
fn is_meta_scope(s: &str) -> bool {
    matches!(s, "offline_access" | "openid" | "profile" | "email")
}

/// `GET /{tenant}/oauth2/v2.0/authorize`.
pub(crate) async fn authorize(req: HttpRequest, emu: web::Data<MicrosoftEmulator>) -> HttpResponse {
    let q = parse_form(req.query_string());
    let mut state = emu.lock();
    let config = state.config.clone();
    if q.get("client_id") != Some(&config.client_id) {
        return error_page(
            700016,
            "Application with identifier was not found in the directory. This can happen if the application has not \
             been installed by the administrator of the tenant or consented to by any user in the tenant.",
        );
    }
    let Some(redirect_uri) = q.get("redirect_uri").cloned() else {
        return error_page(900144, "The request body must contain the following parameter: 'redirect_uri'.");
    };
    if !config.redirect_uris.is_empty() && !config.redirect_uris.contains(&redirect_uri) {
        return error_page(
            50011,
            "The redirect URI specified in the request does not match the redirect URIs configured for the application.",
        );
    }
    let mut params: Vec<(&str, String)> = Vec::new();
    let with_state = |mut params: Vec<(&'static str, String)>| {
        if let Some(s) = q.get("state") {
            params.push(("state", s.clone()));
        }
        params
    };
    if q.get("response_type").map(String::as_str) != Some("code") {
        params.push(("error", "unsupported_response_type".into()));
        params.push(("error_description", "AADSTS700054: response_type 'code' is required.".into()));
        return redirect_with(&redirect_uri, &with_state(params));
    }
    let scopes: Vec<String> =
        q.get("scope").map(|s| s.split_whitespace().map(str::to_owned).collect()).unwrap_or_default();
    if scopes.is_empty() {
        params.push(("error", "invalid_request".into()));
        params.push(("error_description", "AADSTS900144: The request body must contain the parameter 'scope'.".into()));
        return redirect_with(&redirect_uri, &with_state(params));
    }
    let challenge = match q.get("code_challenge") {
        Some(c) => {
            let method = q.get("code_challenge_method").cloned().unwrap_or_else(|| "plain".into());
            if method != "S256" && method != "plain" {
                params.push(("error", "invalid_request".into()));
                params.push(("error_description", "AADSTS501491: Invalid code_challenge_method.".into()));
                return redirect_with(&redirect_uri, &with_state(params));
            }
            Some((c.clone(), method))
        }
        None => None,
    };
    match config.consent {
        MicrosoftConsent::AutoDeny => {
            params.push(("error", "access_denied".into()));
            params.push(("error_description", "AADSTS65004: User declined to consent to access the app.".into()));
            redirect_with(&redirect_uri, &with_state(params))
        }
        MicrosoftConsent::AutoApprove => {
            let code = format!("M.C5_BAY.2.U.{}", random_string(48));
            state.codes.insert(
                code.clone(),
                CodeGrant {
                    client_id: config.client_id.clone(),
                    redirect_uri: redirect_uri.clone(),
                    scopes,
                    challenge,
                    user: q.get("login_hint").cloned().unwrap_or(config.default_user.clone()),
                    expires: Instant::now() + config.code_ttl,
                    redeemed: false,
                },
            );
            params.push(("code", code));
            let mut params = with_state(params);
            params.push(("session_state", random_guid()));
            redirect_with(&redirect_uri, &params)
        }
    }
}

/// The identity platform's error JSON (B1), `400` unless said otherwise.
pub(crate) fn token_error(status: u16, error: &str, aadsts: u32, description: &str) -> HttpResponse {
    let code = actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    let trace = random_guid();
    let correlation = random_guid();
    let now = Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
    HttpResponse::build(code).json(json!({
        "error": error,
        "error_description": format!(
            "AADSTS{aadsts}: {description} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {now}"
        ),
        "error_codes": [aadsts],
        "timestamp": now,
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": format!("https://login.microsoftonline.com/error?code={aadsts}"),
    }))
}

fn client_credentials(req: &HttpRequest, form: &HashMap<String, String>) -> (Option<String>, Option<String>) {
    let basic = req
        .headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(a, b)| (a.to_owned(), b.to_owned())));
    match basic {
        Some((id, secret)) => (Some(id), Some(secret)),
        None => (form.get("client_id").cloned(), form.get("client_secret").cloned()),
    }
}

/// `POST /{tenant}/oauth2/v2.0/token`: `authorization_code` and `refresh_token` grants; every refresh
/// returns a new refresh token.
pub(crate) async fn token(req: HttpRequest, body: web::Bytes, emu: web::Data<MicrosoftEmulator>) -> HttpResponse {
    let form = parse_form(&String::from_utf8_lossy(&body));
    let mut state = emu.lock();
    let (client_id, secret) = client_credentials(&req, &form);
    if client_id.as_deref() != Some(state.config.client_id.as_str()) {
        return token_error(400, "unauthorized_client", 700016, "Application was not found in the directory.");
    }
    if secret.as_deref() != Some(state.config.client_secret.as_str()) {
        return token_error(401, "invalid_client", 7000215, "Invalid client secret provided.");
    }
    let ttl = state.config.access_token_ttl.as_secs();
    let (user, scopes, offline) = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some(code) = form.get("code") else {
                return token_error(400, "invalid_request", 900144, "The request body must contain 'code'.");
            };
            let Some(grant) = state.codes.get_mut(code) else {
                return token_error(400, "invalid_grant", 70000, "The provided authorization code is invalid.");
            };
            if grant.redeemed {
                return token_error(400, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed.");
            }
            // Single use, whatever the outcome of this attempt.
            grant.redeemed = true;
            let grant = grant.clone();
            if grant.client_id != state.config.client_id {
                return token_error(400, "invalid_grant", 70000, "The code was issued to another client.");
            }
            if grant.expires <= Instant::now() {
                return token_error(400, "invalid_grant", 70008, "The provided authorization code has expired.");
            }
            if form.get("redirect_uri") != Some(&grant.redirect_uri) {
                return token_error(
                    400,
                    "invalid_grant",
                    50148,
                    "The redirect_uri does not match the one in the authorization request.",
                );
            }
            if let Some((challenge, method)) = &grant.challenge {
                let Some(verifier) = form.get("code_verifier") else {
                    return token_error(400, "invalid_request", 50148, "The code_verifier is missing.");
                };
                let computed = if method == "S256" {
                    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
                } else {
                    verifier.clone()
                };
                if &computed != challenge {
                    return token_error(
                        400,
                        "invalid_grant",
                        501481,
                        "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
                    );
                }
            }
            let offline = grant.scopes.iter().any(|s| s == "offline_access");
            (grant.user, grant.scopes, offline)
        }
        Some("refresh_token") => {
            let Some(refresh) = form.get("refresh_token").cloned() else {
                return token_error(400, "invalid_request", 900144, "The request body must contain 'refresh_token'.");
            };
            let rotate = state.config.revoke_used_refresh_tokens;
            let grant = match state.refresh_tokens.get_mut(&refresh) {
                Some(g) if g.dead.is_none() => {
                    let copy = g.clone();
                    if rotate {
                        g.dead = Some(70008);
                    }
                    copy
                }
                Some(g) => {
                    let code = g.dead.unwrap_or(70008);
                    let text = if code == 50173 {
                        "The provided grant has expired due to it being revoked, a fresh auth token is needed."
                    } else {
                        "The refresh token has expired or is invalid due to sign-in frequency checks by conditional \
                         access."
                    };
                    return token_error(400, "invalid_grant", code, text);
                }
                None => return token_error(400, "invalid_grant", 9002313, "Invalid request. Request is malformed."),
            };
            if client_id.as_deref() != Some(grant.client_id.as_str()) {
                return token_error(400, "invalid_grant", 70000, "The refresh token was issued to another client.");
            }
            (grant.user, grant.scopes, true)
        }
        Some(other) => {
            return token_error(400, "unsupported_grant_type", 70003, &format!("Unsupported grant type '{other}'."));
        }
        None => return token_error(400, "invalid_request", 900144, "The request body must contain 'grant_type'."),
    };
    let client = state.config.client_id.clone();
    let (access, refresh) = state.issue(&user, &client, &scopes, offline);
    let granted: Vec<&str> = scopes.iter().map(String::as_str).filter(|s| !is_meta_scope(s)).collect();
    let mut reply = json!({
        "token_type": "Bearer",
        "scope": granted.join(" "),
        "expires_in": ttl,
        "ext_expires_in": ttl,
        "access_token": access,
    });
    if offline {
        reply["refresh_token"] = json!(refresh);
    }
    HttpResponse::Ok().json(reply)
}
