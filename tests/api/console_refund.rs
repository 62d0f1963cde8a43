//! Issue 26 in a real browser: an operator finds a paid order, cancels its visit and refunds
//! it in full from the console (confirming), and sees the request and its outcome on the
//! order's timeline; a payment only held is released by the same form, nothing refunded.

use std::time::Duration;

use crate::{
    capture_flow::held,
    helpers::{ADMIN_TOKEN, spawn_app},
    money::paid_order,
    webdriver::Browser,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_cancels_and_refunds_from_the_console_and_sees_the_timeline() {
    let app = spawn_app().await;
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let (order_id, _) = paid_order(&app, "console-cancel@example.com").await;
    let browser = Browser::start().await;
    let admin = format!("{}/admin", app.base_url);
    browser.log_in(&admin, ADMIN_TOKEN).await;

    // Without the form's CSRF token the console refuses, and writes nothing.
    let cookie = browser.cookie("h2s_console").await;
    let forged = app
        .http
        .post(format!("{admin}/orders/{order_id}/refund"))
        .header("cookie", format!("h2s_console={cookie}"))
        .form(&[("reason", "forged"), ("confirmed", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    let order_page = format!("{admin}/orders?q={order_id}");
    browser.goto(&order_page).await;
    browser.page_with("Refund requests").await;
    browser
        .type_into("#refund-reason", "customer cancelled the installation")
        .await;
    browser.click("#refund-cancel-job").await;
    browser.click("#refund").await;
    let confirm = browser.page_with("Confirm the refund").await;
    assert!(
        confirm.contains("all that remains") && confirm.contains("cancelling its visit"),
        "{confirm}"
    );
    assert_eq!(
        app.count("h2s_refund_requests").await,
        0,
        "nothing before the confirmation"
    );
    browser.click("#confirm").await;
    browser.page_with("Refund requested").await;
    assert_eq!(
        app.job_status(&order_id).await.as_deref(),
        Some("cancelled")
    );

    let timeline = browser
        .wait_for_text(
            &order_page,
            "refund request succeeded",
            Duration::from_secs(20),
        )
        .await;
    assert!(timeline.contains("job ready → cancelled"), "{timeline}");
    assert!(
        timeline.contains("customer cancelled the installation"),
        "{timeline}"
    );
    browser.screenshot(&shots, "6-cancel-and-refund").await;
    assert_eq!(app.order_status(&order_id).await, "refunded");
    assert_eq!(app.refunds_at_stripe(&order_id).await, 1);

    browser.quit().await;
    app.shutdown().await;
}

/// A payment only held (manual capture) is not refunded from the console: nothing was taken,
/// so the refund form releases the hold instead, as the admin API does, and the order ends
/// `released` with no refund at Stripe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_refunding_a_held_payment_from_the_console_releases_it() {
    let app = spawn_app().await;
    let (order_id, _) = held(&app, "console-held@example.com").await;
    let browser = Browser::start().await;
    let admin = format!("{}/admin", app.base_url);
    browser.log_in(&admin, ADMIN_TOKEN).await;

    let order_page = format!("{admin}/orders?q={order_id}");
    browser.goto(&order_page).await;
    let page = browser.page_with("Payment held: ").await;
    assert!(page.contains("id=\"hold\""), "{page}");
    browser
        .type_into("#refund-reason", "customer called the visit off")
        .await;
    browser.click("#refund").await;
    browser.page_with("Confirm the refund").await;
    browser.click("#confirm").await;
    browser.page_with("Hold released").await;
    assert_eq!(
        app.count("h2s_refund_requests").await,
        0,
        "no refund request"
    );

    browser
        .wait_for_text(&order_page, "· released", Duration::from_secs(20))
        .await;
    assert_eq!(app.order_status(&order_id).await, "released");
    assert_eq!(app.refunds_at_stripe(&order_id).await, 0);
    assert_eq!(
        app.job_status(&order_id).await.as_deref(),
        Some("cancelled")
    );

    browser.quit().await;
    app.shutdown().await;
}
