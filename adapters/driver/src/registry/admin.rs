//! Admin routes over HTTP (features `registry` and `axum`): list, read and
//! change the registry's policies, reload their configurations; JSON.
//!
//! [`router`] returns an axum [`Router`] the service mounts where it
//! chooses; nothing is served unless it does:
//!
//! | route | body | answer |
//! |---|---|---|
//! | `GET /policies` | | `200`, every policy: `[{"name", "kind", "config", "state"}]` |
//! | `GET /policies/{name}` | | `200`, the policy; `404` |
//! | `POST /policies/{name}` | a [`Change`] as JSON, e.g. `{"action": "set_limit", "limit": 8}` | `200`, the policy after the change (a change made through a shared store, such as a Redis breaker's `open`, once the store took it: [`Registry::apply_settled`]); `400` for a body that is not a change (not JSON, an unknown action or key, or a value the change's own type refuses, such as a zero `quota.burst`); `404`; `422` for a change the policy refuses; `503` for a change the store did not confirm |
//! | `POST /reload` | a TOML document ([`Registry::reload_toml`]) | `200`, `{"changed": [names]}`; `400`, `404`, `422` as above, nothing changed |
//!
//! An error answers `{"error": "...", "field": "..." | null}`: the field
//! names the offending key (`"limit"`, `"quota.burst"`,
//! `"flags[0].rollout"`) where one is known. Nothing changes on an error
//! but a `503` ([`RegistryError::NotApplied`]): the change was made on this
//! instance and reported to the listeners, and the store did not confirm
//! it (it may still have taken it, if only its answer timed out).
//!
//! **Protect them.** These routes change live policies: whoever reaches
//! them can open every breaker or let all traffic through. Serve them on a
//! listener only operators reach (a separate port bound to loopback or to
//! a private network), put authentication in front (a `tower-http`
//! `ValidateRequestHeaderLayer` with a bearer token, mTLS at the proxy),
//! and keep a record of who changed what (every change is a
//! [`RegistryEvent`](super::RegistryEvent): log them with
//! [`Registry::on_change`]).
//!
//! ```
//! use std::sync::Arc;
//! use failsafe_driver::registry::{Registry, admin};
//!
//! let registry = Arc::new(Registry::default());
//! // ... register the service's policies ...
//! let app: axum::Router = axum::Router::new()
//!     // .route("/api/...", ...) the service's own routes
//!     .nest("/admin", admin::router(registry.clone()));
//! # let _ = app;
//! ```

extern crate std;

use std::string::{String, ToString};
use std::sync::Arc;
use std::vec::Vec;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::{Change, ChangeError, PolicyView, Registry, RegistryError};

/// The admin routes over `registry` (see the [module docs](self)), to
/// mount (`Router::nest("/admin", ...)`) behind the service's own
/// protection.
pub fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/policies", get(list))
        .route("/policies/{name}", get(read).post(change))
        .route("/reload", post(reload))
        .with_state(registry)
}

async fn list(State(registry): State<Arc<Registry>>) -> Json<Vec<PolicyView>> {
    Json(registry.list())
}

async fn read(
    State(registry): State<Arc<Registry>>,
    Path(name): Path<String>,
) -> Result<Json<PolicyView>, Refused> {
    registry
        .get(&name)
        .map(Json)
        .ok_or(Refused(RegistryError::NotFound(name)))
}

async fn change(
    State(registry): State<Arc<Registry>>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<PolicyView>, Refused> {
    let value: Value = serde_json::from_slice(&body).map_err(|e| {
        Refused(RegistryError::Malformed(ChangeError::Invalid {
            field: None,
            message: std::format!("the body is not JSON: {e}"),
        }))
    })?;
    let change = Change::from_json(value).map_err(Refused)?;
    registry
        .apply_settled(&name, change)
        .await
        .map(Json)
        .map_err(Refused)
}

async fn reload(
    State(registry): State<Arc<Registry>>,
    body: String,
) -> Result<Json<Value>, Refused> {
    let changed = registry.reload_toml(&body).map_err(Refused)?;
    Ok(Json(json!({ "changed": changed })))
}

/// A refused request: its status and `{"error", "field"}`.
struct Refused(RegistryError);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let status = match self.0 {
            RegistryError::NotFound(_) => StatusCode::NOT_FOUND,
            RegistryError::Malformed(_) => StatusCode::BAD_REQUEST,
            RegistryError::Change { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            RegistryError::NotApplied { .. } => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::CONFLICT,
        };
        let body = json!({ "error": self.0.to_string(), "field": self.0.field() });
        (status, Json(body)).into_response()
    }
}
