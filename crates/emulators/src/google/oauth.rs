//! OAuth 2.0: consent (`/o/oauth2/v2/auth`), `/token`, `/revoke`.

use std::collections::HashMap;
use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::state::{CodeGrant, PendingConsent, random_string};
use super::{ConsentMode, GoogleEmulator};

fn parse_form(text: &str) -> HashMap<String, String> {
    web::Query::<HashMap<String, String>>::from_query(text).map(|q| q.into_inner()).unwrap_or_default()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn error_page(status: u16, error: &str, detail: &str) -> HttpResponse {
    let code = actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    HttpResponse::build(code).content_type("text/html; charset=utf-8").body(format!(
        "<!doctype html><html><head><title>Error {status}: {e}</title></head><body>\
         <h1>Access blocked: authorisation error</h1><p>Error {status}: {e}</p><p>{d}</p></body></html>",
        e = escape(error),
        d = escape(detail)
    ))
}

fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> HttpResponse {
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
        Err(_) => error_page(400, "invalid_request", "redirect_uri is not a valid URL"),
    }
}

/// `GET /o/oauth2/v2/auth`.
pub(crate) async fn authorize(req: HttpRequest, emu: web::Data<GoogleEmulator>) -> HttpResponse {
    let q = parse_form(req.query_string());
    let mut state = emu.lock();
    let config = state.config.clone();
    let client_id = q.get("client_id").cloned().unwrap_or_default();
    if client_id != config.client_id {
        return error_page(401, "invalid_client", "The OAuth client was not found.");
    }
    let Some(redirect_uri) = q.get("redirect_uri").cloned() else {
        return error_page(400, "invalid_request", "Missing required parameter: redirect_uri");
    };
    if !config.redirect_uris.is_empty() && !config.redirect_uris.contains(&redirect_uri) {
        return error_page(
            400,
            "redirect_uri_mismatch",
            "The redirect URI in the request does not match the ones authorised for the OAuth client.",
        );
    }
    let st = q.get("state").cloned();
    let with_state = |mut params: Vec<(&'static str, String)>| {
        if let Some(s) = &st {
            params.push(("state", s.clone()));
        }
        params
    };
    if q.get("response_type").map(String::as_str) != Some("code") {
        let params = with_state(vec![("error", "unsupported_response_type".to_owned())]);
        let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        return redirect_with(&redirect_uri, &borrowed);
    }
    let scopes: Vec<String> =
        q.get("scope").map(|s| s.split_whitespace().map(str::to_owned).collect()).unwrap_or_default();
    if scopes.is_empty() {
        return error_page(400, "invalid_request", "Missing required parameter: scope");
    }
    let challenge = match q.get("code_challenge") {
        Some(c) => {
            let method = q.get("code_challenge_method").cloned().unwrap_or_else(|| "plain".into());
            if method != "S256" && method != "plain" {
                return error_page(400, "invalid_request", "Invalid code_challenge_method");
            }
            Some((c.clone(), method))
        }
        None => None,
    };
    let pending = PendingConsent {
        client_id,
        redirect_uri: redirect_uri.clone(),
        scopes,
        state: st.clone(),
        challenge,
        offline: q.get("access_type").map(String::as_str) == Some("offline"),
        user: q.get("login_hint").cloned().unwrap_or(config.default_user.clone()),
    };
    match config.consent {
        ConsentMode::AutoApprove => {
            let code = format!("4/{}", random_string(40));
            let scopes = pending.scopes.join(" ");
            state.codes.insert(
                code.clone(),
                CodeGrant { request: pending.clone(), expires: Instant::now() + config.code_ttl },
            );
            let params = with_state(vec![
                ("code", code),
                ("scope", scopes),
                ("authuser", "0".into()),
                ("prompt", "consent".into()),
            ]);
            let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            redirect_with(&redirect_uri, &borrowed)
        }
        ConsentMode::AutoDeny => {
            let params = with_state(vec![("error", "access_denied".to_owned())]);
            let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            redirect_with(&redirect_uri, &borrowed)
        }
        ConsentMode::Page => {
            let id = random_string(24);
            let scope_boxes: String = pending
                .scopes
                .iter()
                .map(|s| {
                    format!(
                        "<li><label><input type=\"checkbox\" name=\"scope\" value=\"{0}\" checked> {0}</label></li>",
                        escape(s)
                    )
                })
                .collect();
            let page = format!(
                "<!doctype html><html><head><meta charset=\"utf-8\"><title>Sign in - Google Accounts (emulator)</title></head>\
                 <body><h1>Emulated Google consent</h1><p>The app <b>{client}</b> wants to access your Google Account \
                 <b>{user}</b>:</p><form method=\"post\" action=\"/o/oauth2/v2/auth/decision\">\
                 <input type=\"hidden\" name=\"request_id\" value=\"{id}\"><ul>{scope_boxes}</ul>\
                 <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button> \
                 <button type=\"submit\" name=\"decision\" value=\"deny\">Cancel</button></form></body></html>",
                client = escape(&pending.client_id),
                user = escape(&pending.user),
            );
            state.pending_consents.insert(id, pending);
            HttpResponse::Ok().content_type("text/html; charset=utf-8").body(page)
        }
    }
}

/// `POST /o/oauth2/v2/auth/decision` (the consent page's form; `scope` may repeat).
pub(crate) async fn decision(body: web::Bytes, emu: web::Data<GoogleEmulator>) -> HttpResponse {
    let text = String::from_utf8_lossy(&body).into_owned();
    let pairs: Vec<(String, String)> =
        web::Query::<Vec<(String, String)>>::from_query(&text).map(|q| q.into_inner()).unwrap_or_default();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut state = emu.lock();
    let Some(mut pending) = get("request_id").and_then(|id| state.pending_consents.remove(&id)) else {
        return error_page(400, "invalid_request", "Unknown or already answered consent request.");
    };
    let mut params: Vec<(&str, String)> = Vec::new();
    if get("decision").as_deref() == Some("allow") {
        let granted: Vec<String> = pairs.iter().filter(|(n, _)| n == "scope").map(|(_, v)| v.clone()).collect();
        pending.scopes.retain(|s| granted.contains(s));
        let code = format!("4/{}", random_string(40));
        params.push(("code", code.clone()));
        params.push(("scope", pending.scopes.join(" ")));
        let ttl = state.config.code_ttl;
        state.codes.insert(code, CodeGrant { request: pending.clone(), expires: Instant::now() + ttl });
    } else {
        params.push(("error", "access_denied".into()));
    }
    if let Some(s) = &pending.state {
        params.push(("state", s.clone()));
    }
    let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    redirect_with(&pending.redirect_uri, &borrowed)
}

fn token_error(status: u16, error: &str, description: &str) -> HttpResponse {
    let code = actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    HttpResponse::build(code).json(json!({"error": error, "error_description": description}))
}

fn percent_decode(s: &str) -> String {
    parse_form(&format!("v={s}")).remove("v").unwrap_or_default()
}

/// Client id and secret from HTTP Basic (form-urlencoded parts, RFC 6749 2.3.1) or the body.
fn client_credentials(req: &HttpRequest, form: &HashMap<String, String>) -> (Option<String>, Option<String>) {
    let basic = req
        .headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(a, b)| (percent_decode(a), percent_decode(b))));
    match basic {
        Some((id, secret)) => (Some(id), Some(secret)),
        None => (form.get("client_id").cloned(), form.get("client_secret").cloned()),
    }
}

/// `POST /token`: `authorization_code` and `refresh_token` grants.
pub(crate) async fn token(req: HttpRequest, body: web::Bytes, emu: web::Data<GoogleEmulator>) -> HttpResponse {
    let form = parse_form(&String::from_utf8_lossy(&body));
    let mut state = emu.lock();
    let (client_id, secret) = client_credentials(&req, &form);
    if client_id.as_deref() != Some(state.config.client_id.as_str())
        || secret.as_deref() != Some(state.config.client_secret.as_str())
    {
        return token_error(401, "invalid_client", "Unauthorized");
    }
    let ttl = state.config.access_token_ttl.as_secs();
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some(code) = form.get("code") else {
                return token_error(400, "invalid_request", "Missing required parameter: code");
            };
            // Codes are single use: removed on the first exchange whatever its outcome.
            let Some(grant) = state.codes.remove(code) else {
                return token_error(400, "invalid_grant", "Malformed auth code.");
            };
            if grant.expires <= Instant::now() {
                return token_error(400, "invalid_grant", "Bad Request");
            }
            let request = grant.request;
            if form.get("redirect_uri") != Some(&request.redirect_uri) {
                return token_error(400, "redirect_uri_mismatch", "Bad Request");
            }
            if let Some((challenge, method)) = &request.challenge {
                let Some(verifier) = form.get("code_verifier") else {
                    return token_error(400, "invalid_grant", "Missing code verifier.");
                };
                let computed = if method == "S256" {
                    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
                } else {
                    verifier.clone()
                };
                if &computed != challenge {
                    return token_error(400, "invalid_grant", "Invalid code verifier.");
                }
            }
            let (access, refresh) =
                state.issue_grant(&request.user, &request.client_id, request.scopes.clone(), request.offline);
            let mut reply = json!({
                "access_token": access,
                "expires_in": ttl,
                "token_type": "Bearer",
                "scope": request.scopes.join(" "),
            });
            if request.offline {
                reply["refresh_token"] = json!(refresh);
            }
            HttpResponse::Ok().json(reply)
        }
        Some("refresh_token") => {
            let Some(refresh) = form.get("refresh_token").cloned() else {
                return token_error(400, "invalid_request", "Missing required parameter: refresh_token");
            };
            let grant = match state.grants.get(&refresh) {
                Some(g) if !g.revoked => g.clone(),
                _ => return token_error(400, "invalid_grant", "Token has been expired or revoked."),
            };
            if client_id.as_deref() != Some(grant.client_id.as_str()) {
                return token_error(400, "unauthorized_client", "Unauthorized");
            }
            let access = state.issue_access(&grant.user, grant.scopes.clone(), Some(refresh));
            HttpResponse::Ok().json(json!({
                "access_token": access,
                "expires_in": ttl,
                "token_type": "Bearer",
                "scope": grant.scopes.join(" "),
            }))
        }
        Some(other) => token_error(400, "unsupported_grant_type", &format!("Invalid grant_type: {other}")),
        None => token_error(400, "invalid_request", "Missing required parameter: grant_type"),
    }
}

/// `POST /revoke` with `token` in the body or the query.
pub(crate) async fn revoke(req: HttpRequest, body: web::Bytes, emu: web::Data<GoogleEmulator>) -> HttpResponse {
    let mut form = parse_form(&String::from_utf8_lossy(&body));
    let query = parse_form(req.query_string());
    let token = form.remove("token").or_else(|| query.get("token").cloned());
    let Some(token) = token else {
        return token_error(400, "invalid_request", "Missing required parameter: token");
    };
    let mut state = emu.lock();
    let grant = if state.grants.get(&token).is_some_and(|g| !g.revoked) {
        Some(token.clone())
    } else {
        match state.access_tokens.get(&token) {
            Some(t) if !t.revoked => Some(t.grant.clone().unwrap_or_default()),
            _ => None,
        }
    };
    match grant {
        Some(refresh) => {
            if let Some(t) = state.access_tokens.get_mut(&token) {
                t.revoked = true;
            }
            if !refresh.is_empty() {
                state.revoke_grant(&refresh);
            }
            HttpResponse::Ok().json(json!({}))
        }
        None => token_error(400, "invalid_token", "Token expired or revoked"),
    }
}
