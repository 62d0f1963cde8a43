//! The operator console in a real browser (headless Chromium through chromedriver): log in,
//! see a paid order without its job, sweep (dry run, then for real), see it repaired, retry
//! a dead task and see it done; a wrong token and a POST without the CSRF token refused.
//! Screenshots go to `target/tmp/console-screenshots/` (CI keeps them as artefacts);
//! `CONSOLE_SCREENSHOT_WRITE=1` also refreshes those the tutorial shows (`docs/tutorial/img/`).

use std::time::Duration;

use h2s_dispatch::{orders::OrderId, outbox::OutboxTask};

use crate::{
    helpers::{ADMIN_TOKEN, spawn_app},
    webdriver::Browser,
};

const ORDER: &str = "LEGACY-CONSOLE1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_repairs_a_paid_order_and_retries_a_dead_task_from_the_console() {
    let app = spawn_app().await;
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    // A paid order written by an older system with no job (breaks the invariant), and its
    // notification task dead.
    sqlx::query(
        "INSERT INTO h2s_orders (order_id, status, customer_email, paid_at, amount_total, currency)
         VALUES ($1, 'paid', 'console@example.com', now(), 12900, 'usd')",
    )
    .bind(ORDER)
    .execute(&app.pool)
    .await
    .unwrap();
    let mut tx = app.pool.begin().await.unwrap();
    let task = OutboxTask::NotifyPaid {
        order_id: OrderId::parse(ORDER).unwrap(),
    };
    h2s_dispatch::outbox::enqueue(&mut tx, &task).await.unwrap();
    sqlx::query(
        "UPDATE apalis.jobs SET status = 'Killed', attempts = 3,
             last_result = '\"the notification endpoint answered 500\"'
         WHERE idempotency_key = $1",
    )
    .bind(task.idempotency_key())
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let browser = Browser::start().await;
    let admin = format!("{}/admin", app.base_url);

    // Not logged in: the login form. A wrong token is refused.
    browser.goto(&admin).await;
    assert!(browser.url().await.ends_with("/admin/login"));
    browser.type_into("#token", "not-the-token").await;
    browser.click("#login").await;
    browser.page_with("Wrong token.").await;
    browser.screenshot(&shots, "1-wrong-token").await;

    // The right one: the console, with the order breaking the invariant and the dead task.
    browser.type_into("#token", ADMIN_TOKEN).await;
    browser.click("#login").await;
    let page = browser
        .page_with("Paid orders breaking the invariant")
        .await;
    assert!(browser.url().await.ends_with("/admin"));
    assert!(
        page.contains("id=\"breaches\"") && page.contains(ORDER),
        "{page}"
    );
    assert!(page.contains("class=\"dead-task\""), "{page}");
    browser.screenshot(&shots, "2-breach-and-dead-task").await;

    // A POST without the CSRF token (or with another) is refused, even with the session.
    let cookie = browser.cookie("h2s_console").await;
    for form in [
        vec![("dry_run", "false")],
        vec![("dry_run", "false"), ("csrf", "00ff")],
    ] {
        let refused = app
            .http
            .post(format!("{admin}/sweep"))
            .header("cookie", format!("h2s_console={cookie}"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 403);
    }
    let no_session = app
        .http
        .post(format!("{admin}/sweep"))
        .form(&[("dry_run", "false")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_session.status(), 401);
    assert!(
        app.job_status(ORDER).await.is_none(),
        "a refused POST changed nothing"
    );

    // Sweep: the dry run first, then for real; the order is repaired.
    browser.click("#sweep-dry-run").await;
    let dry = browser.page_with("id=\"sweep-summary\"").await;
    assert!(
        dry.contains("dry run") && dry.contains("orphans_repaired: 1"),
        "{dry}"
    );
    assert!(
        app.job_status(ORDER).await.is_none(),
        "the dry run changed nothing"
    );
    browser.screenshot(&shots, "3-dry-run").await;
    browser.click("#sweep-run").await;
    browser.page_with("Sweep done").await;
    browser.click("#back").await;
    let page = browser
        .page_with("Paid orders breaking the invariant")
        .await;
    assert!(page.contains("id=\"breaches-none\""), "{page}");
    assert_eq!(app.job_status(ORDER).await.as_deref(), Some("ready"));

    // Retry the dead task; the worker runs it; the order's timeline shows it done.
    browser.click("button.retry").await;
    let page = browser.page_with("id=\"notice\"").await;
    assert!(
        page.contains("retried") && page.contains("id=\"dead-none\""),
        "{page}"
    );
    browser.screenshot(&shots, "4-repaired-and-retried").await;
    let timeline = browser
        .wait_for_text(
            &format!("{admin}/orders?q=console@example.com"),
            "Done, 1 of",
            Duration::from_secs(20),
        )
        .await;
    assert!(timeline.contains("task notify_paid"), "{timeline}");
    browser.screenshot(&shots, "5-order-timeline").await;

    browser.quit().await;
    app.shutdown().await;
}
