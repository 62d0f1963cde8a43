//! A few W3C WebDriver commands over HTTP, enough to drive headless Chromium through
//! Debian's `chromedriver` (the test needs nothing more, and this costs no extra crate).

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    http: reqwest::Client,
    session: String,
}

impl Browser {
    /// Starts `chromedriver` on a free port and a headless Chromium session.
    pub async fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let driver = Command::new(std::env::var("CHROMEDRIVER").unwrap_or("chromedriver".into()))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "chromedriver (Debian: apt-get install chromium chromium-driver; scripts/test does as root)",
            );
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let end = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < end, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let binary = std::env::var("CHROMIUM").unwrap_or("/usr/bin/chromium".into());
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": binary, "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--window-size=1280,1100"]}
            }}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
            .to_owned();
        Browser {
            driver,
            http,
            session: format!("{base}/session/{session}"),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let answer: Value = req.send().await.unwrap().json().await.unwrap();
        if answer["value"]["error"].is_string() {
            panic!("WebDriver {path}: {}", answer["value"]);
        }
        answer["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn find(&self, css: &str) -> String {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT].as_str().unwrap().to_owned()
    }

    pub async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// The value of the cookie `name` the browser holds for the current page.
    pub async fn cookie(&self, name: &str) -> String {
        let c = self
            .call(reqwest::Method::GET, &format!("/cookie/{name}"), None)
            .await;
        assert_eq!(c["httpOnly"], true, "{c}");
        assert_eq!(c["secure"], true, "{c}");
        assert_eq!(c["sameSite"], "Strict", "{c}");
        c["value"].as_str().unwrap().to_owned()
    }

    /// Saves a PNG of the viewport as `dir/name.png`; with `CONSOLE_SCREENSHOT_WRITE` set,
    /// also refreshes `docs/tutorial/img/name.png` when the tutorial shows that one.
    pub async fn screenshot(&self, dir: &std::path::Path, name: &str) -> std::path::PathBuf {
        use base64::Engine as _;
        let b64 = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap();
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, &png).unwrap();
        let shown = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("docs/tutorial/img")
            .join(format!("{name}.png"));
        if std::env::var_os("CONSOLE_SCREENSHOT_WRITE").is_some() && shown.exists() {
            std::fs::write(&shown, &png).unwrap();
        }
        path
    }

    /// The current page once it contains `text` (a click's navigation may still be under
    /// way when the click returns), or panics at the deadline.
    pub async fn page_with(&self, text: &str) -> String {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let source = self.source().await;
            if source.contains(text) {
                return source;
            }
            assert!(
                Instant::now() < end,
                "the page never showed {text:?}:\n{source}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Reloads `url` until its page contains `text`, or panics at the deadline.
    pub async fn wait_for_text(&self, url: &str, text: &str, deadline: Duration) -> String {
        let end = Instant::now() + deadline;
        loop {
            self.goto(url).await;
            let source = self.source().await;
            if source.contains(text) {
                return source;
            }
            assert!(
                Instant::now() < end,
                "{url} never showed {text:?}:\n{source}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Logs in to the console at `admin` (its `/admin` URL) with `token`, and waits for the
    /// dashboard.
    pub async fn log_in(&self, admin: &str, token: &str) {
        self.goto(admin).await;
        self.type_into("#token", token).await;
        self.click("#login").await;
        self.page_with("Paid orders breaking the invariant").await;
    }

    pub async fn quit(mut self) {
        let _ = self.http.delete(&self.session).send().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}
