//! The operator console at `/admin`: server-rendered HTML behind the admin token. See
//! [`auth`] for the session cookie and the CSRF tokens.

mod actions;
mod auth;
mod delivery_log;
mod endpoints;
mod event_feed;
mod format;
mod operator;
mod order_markup;
mod order_page;
mod pages;
mod queries;
mod respond;

use axum::{
    Form, Router,
    extract::{Path, Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;

use super::state::AppState;
use crate::{outbox, reconcile};
use operator::{Operator, OperatorPost};
use respond::{failed, page};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(dashboard))
        .route("/admin/login", get(login_form).post(login))
        .route("/admin/logout", post(logout))
        .route("/admin/tasks/{id}/retry", post(retry))
        .route("/admin/sweep", post(sweep))
        .route("/admin/orders", get(order_page::orders))
        .merge(actions::routes())
        .merge(event_feed::routes())
        .merge(endpoints::routes())
}

async fn login_form() -> Response {
    page(StatusCode::OK, pages::login(None))
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(State(state): State<AppState>, Form(form): Form<LoginForm>) -> Response {
    let Some(token) = &state.settings.http.admin_token else {
        return page(
            StatusCode::UNAUTHORIZED,
            pages::login(Some("The console is off: the api has no ADMIN_TOKEN.")),
        );
    };
    if !auth::token_matches(token, &form.token) {
        tracing::warn!("console login refused: wrong token");
        return page(StatusCode::UNAUTHORIZED, pages::login(Some("Wrong token.")));
    }
    let session = auth::new_session(token);
    (
        [(header::SET_COOKIE, auth::set_cookie(&session))],
        Redirect::to("/admin"),
    )
        .into_response()
}

async fn logout() -> Response {
    (
        [(header::SET_COOKIE, auth::set_cookie(""))],
        Redirect::to("/admin/login"),
    )
        .into_response()
}

#[derive(Deserialize)]
struct Notice {
    notice: Option<String>,
}

async fn dashboard(
    operator: Operator,
    State(state): State<AppState>,
    Query(notice): Query<Notice>,
) -> Response {
    let pool = &state.pool;
    let loaded = async {
        Ok::<_, sqlx::Error>((
            queries::breaches(pool).await?,
            crate::alerts::open(pool, queries::SHOWN).await?,
            outbox::dead::list_dead(pool, queries::SHOWN, state.settings.shared.max_attempts())
                .await?,
            crate::outbox::depth::outbox_by_kind(pool).await?,
            reconcile::history::recent(pool, 10).await?,
        ))
    }
    .await;
    let (breaches, alerts, dead, outbox, sweeps) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => return failed(e),
    };
    let csrf = operator.csrf();
    page(
        StatusCode::OK,
        pages::dashboard(pages::Dashboard {
            notice: notice.notice.as_deref(),
            breaches: &breaches,
            alerts: &alerts,
            dead: &dead,
            outbox: &outbox,
            sweeps: &sweeps,
            csrf: &csrf,
        }),
    )
}

async fn retry(
    State(state): State<AppState>,
    Path(id): Path<String>,
    _: OperatorPost<operator::NoFields>,
) -> Response {
    match outbox::dead::revive(&state.pool, &id).await {
        Ok(true) => {
            tracing::info!(task_id = %id, "console: dead task retried");
            Redirect::to(&format!("/admin?notice=Task+{id}+retried")).into_response()
        }
        Ok(false) => page(
            StatusCode::NOT_FOUND,
            pages::refused("No dead task has this id (already retried?)."),
        ),
        Err(e) => failed(e),
    }
}

#[derive(Deserialize)]
struct SweepForm {
    #[serde(default)]
    dry_run: Option<String>,
}

async fn sweep(
    State(state): State<AppState>,
    OperatorPost { operator, form }: OperatorPost<SweepForm>,
) -> Response {
    let dry_run = form.dry_run.as_deref() != Some("false");
    let options = reconcile::SweepOptions {
        dry_run,
        ..reconcile::SweepOptions::default()
    };
    match run_sweep(&state, options).await {
        Ok(report) => {
            tracing::info!(dry_run, "console: sweep run");
            let json = serde_json::to_value(&report).expect("a report serialises");
            page(
                StatusCode::OK,
                pages::sweep_result(&json, dry_run, &operator.csrf()),
            )
        }
        Err(e) => failed(e),
    }
}

/// Boxed: the sweep's future is deep enough (async-stripe's types) that, inlined into the
/// handler's, proving it `Send` overflows the compiler's recursion limit.
fn run_sweep(
    state: &AppState,
    options: reconcile::SweepOptions,
) -> futures::future::BoxFuture<'_, Result<reconcile::SweepReport, reconcile::SweepError>> {
    Box::pin(async move {
        match &state.stripe {
            Some(stripe) => reconcile::sweep(&state.pool, stripe, &options).await,
            None => reconcile::sweep_without_stripe(&state.pool, &options).await,
        }
    })
}
