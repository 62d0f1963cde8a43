//! `GET /admin/orders?q=`: the orders found by id or email, each with its timeline, its
//! refund requests and the operator's actions on its money and its visit.

use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::Response,
};
use serde::Deserialize;
use sqlx::PgPool;

use super::{
    operator::Operator,
    order_markup::{self, Panel},
    queries,
    respond::{failed, page},
};
use crate::http::state::AppState;

#[derive(Deserialize)]
pub(super) struct Find {
    q: Option<String>,
    notice: Option<String>,
}

pub(super) async fn orders(
    operator: Operator,
    State(state): State<AppState>,
    Query(find): Query<Find>,
) -> Response {
    let q = find.q.unwrap_or_default();
    match panels(&state.pool, &q, state.settings.shared.max_attempts()).await {
        Ok(found) => {
            let view = order_markup::OrdersView {
                q: &q,
                notice: find.notice.as_deref(),
                found: &found,
                csrf: &operator.csrf(),
            };
            page(StatusCode::OK, order_markup::orders(view))
        }
        Err(e) => failed(e),
    }
}

async fn panels(pool: &PgPool, q: &str, policy_max: i32) -> Result<Vec<Panel>, sqlx::Error> {
    let mut found = vec![];
    for order in queries::find_orders(pool, q).await? {
        let entries = queries::timeline(pool, &order, policy_max).await?;
        let job =
            sqlx::query_as(r#"SELECT job_id, status FROM h2s_dispatch_jobs WHERE order_id = $1"#)
                .bind(order.order_id.as_str())
                .fetch_optional(pool)
                .await?;
        let refunds = crate::refunds::list::for_order(pool, &order.order_id).await?;
        found.push(Panel {
            currency: order.currency.clone(),
            order,
            entries,
            job,
            refunds,
        });
    }
    Ok(found)
}
