//! Sign-in, sign-out and the [`Session`] extractor with its CSRF check.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, HttpResponse, web};
use chrono::TimeDelta;
use futures_util::future::LocalBoxFuture;
use maud::html;
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use super::layout::{DashError, bare_page, see_other};
use crate::extract::AppState;

/// The session cookie (path `/dashboard`).
pub(super) const COOKIE: &str = "slotwise_session";
/// The double-submit cookie of the sign-in form (there is no session yet to bind it to).
const LOGIN_CSRF_COOKIE: &str = "slotwise_login_csrf";
/// How long a sign-in lasts.
const SESSION_LIFETIME: TimeDelta = TimeDelta::hours(8);

/// 32 random bytes as hex.
pub(super) fn random_token() -> String {
    let mut bytes = [0_u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A signed-in person: the tenant and the session's CSRF token.
#[derive(Debug, Clone)]
pub struct Session {
    /// The tenant whose key signed in.
    pub tenant: store::Tenant,
    csrf: SecretString,
}

impl Session {
    /// The token to put into every form.
    pub fn csrf(&self) -> &str {
        self.csrf.expose_secret()
    }

    /// Refuses a form whose token is not this session's.
    pub fn check(&self, token: &str) -> Result<(), DashError> {
        if same(token, self.csrf.expose_secret()) { Ok(()) } else { Err(DashError::Csrf) }
    }
}

impl FromRequest for Session {
    type Error = DashError;
    type Future = LocalBoxFuture<'static, Result<Self, DashError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = req.cookie(COOKIE).map(|c| c.value().to_owned());
        let state = req.app_data::<web::Data<AppState>>().cloned();
        // Present when the request may write: the cache then forgets this tenant's answers only.
        let authenticated = req.extensions().get::<crate::cache::AuthenticatedTenant>().cloned();
        Box::pin(async move {
            let (Some(token), Some(state)) = (token, state) else {
                return Err(DashError::SignIn);
            };
            match state.store.dashboard_session(&token, state.now()).await {
                Ok(Some(session)) => {
                    if let Some(authenticated) = authenticated {
                        authenticated.set(&session.tenant.id);
                    }
                    Ok(Session { tenant: session.tenant, csrf: session.csrf_token })
                }
                Ok(None) => Err(DashError::SignIn),
                Err(e) => Err(DashError::Api(e.into())),
            }
        })
    }
}

fn secure(state: &AppState) -> bool {
    state.config.public_url.starts_with("https://")
}

fn cookie<'a>(state: &AppState, name: &'a str, value: String, path: &'a str) -> Cookie<'a> {
    Cookie::build(name, value).path(path).http_only(true).same_site(SameSite::Strict).secure(secure(state)).finish()
}

/// `GET /dashboard`: the calendars page, or the sign-in page.
pub async fn index(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let signed_in = match req.cookie(COOKIE) {
        Some(c) => matches!(state.store.dashboard_session(c.value(), state.now()).await, Ok(Some(_))),
        None => false,
    };
    see_other(if signed_in { "/dashboard/calendars" } else { "/dashboard/login" })
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    error: Option<String>,
}

/// `GET /dashboard/login`.
pub async fn login_page(state: web::Data<AppState>, query: web::Query<LoginQuery>) -> HttpResponse {
    let csrf = random_token();
    let error = query.error.is_some();
    let body = html! {
        main.login {
            h1 { "Sign in to slotwise" }
            @if error {
                p.notice.error role="alert" { "That API key was not accepted. Check it and try again." }
            }
            form method="post" action="/dashboard/login" {
                input type="hidden" name="csrf" value=(csrf);
                label for="api_key" { "Tenant API key" }
                input type="password" id="api_key" name="api_key" autocomplete="current-password" required size="40";
                p { button type="submit" { "Sign in" } }
            }
            p.muted { "The key is exchanged for a session cookie; it is not kept in the browser." }
        }
    };
    let mut response = bare_page("Sign in", body);
    let _ = response.add_cookie(&cookie(&state, LOGIN_CSRF_COOKIE, csrf, "/dashboard/login"));
    response
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    api_key: String,
    csrf: String,
}

/// `POST /dashboard/login`: a valid key starts a session.
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, DashError> {
    let expected = req.cookie(LOGIN_CSRF_COOKIE).map(|c| c.value().to_owned()).unwrap_or_default();
    if expected.is_empty() || !same(&expected, &form.csrf) {
        return Err(DashError::Csrf);
    }
    let key = SecretString::from(form.api_key.trim().to_owned());
    let tenant = state.store.tenant_by_api_key(&key).await.map_err(|e| DashError::Api(e.into()))?;
    let Some(tenant) = tenant else {
        tracing::info!("dashboard sign-in refused");
        return Ok(see_other("/dashboard/login?error=1"));
    };
    let token = random_token();
    let csrf = SecretString::from(random_token());
    state
        .store
        .create_dashboard_session(&tenant.id, &SecretString::from(token.clone()), &csrf, state.now() + SESSION_LIFETIME)
        .await
        .map_err(|e| DashError::Api(e.into()))?;
    tracing::info!(tenant = %tenant.id, "dashboard sign-in");
    let mut response = see_other("/dashboard/calendars");
    let mut session = cookie(&state, COOKIE, token, "/dashboard");
    session.set_max_age(actix_web::cookie::time::Duration::seconds(SESSION_LIFETIME.num_seconds()));
    let _ = response.add_cookie(&session);
    let mut used = cookie(&state, LOGIN_CSRF_COOKIE, String::new(), "/dashboard/login");
    used.make_removal();
    let _ = response.add_cookie(&used);
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// `POST /dashboard/logout`.
pub async fn logout(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, DashError> {
    session.check(&form.csrf)?;
    if let Some(c) = req.cookie(COOKIE) {
        state.store.delete_dashboard_session(c.value()).await.map_err(|e| DashError::Api(e.into()))?;
    }
    let mut response = see_other("/dashboard/login");
    let mut gone = cookie(&state, COOKIE, String::new(), "/dashboard");
    gone.make_removal();
    let _ = response.add_cookie(&gone);
    Ok(response)
}
