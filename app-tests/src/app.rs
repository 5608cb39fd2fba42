//! The real app: `tauri-driver` (which starts WebKitWebDriver, which starts `carnet-app`) and a
//! WebDriver session on it, with the DOM helpers the scenarios use.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::{binary, free_port, process, screenshot_dir, wait_for};

/// `tauri-driver` on a free port. Every app it starts gets this driver's `XDG_DATA_HOME`: one
/// driver per simulated phone. Stopped with SIGTERM (SIGKILL would orphan WebKitWebDriver).
pub struct Driver {
    child: Child,
    port: u16,
    pub data_home: PathBuf,
}

impl Driver {
    pub async fn start(data_home: &Path) -> anyhow::Result<Self> {
        ensure!(
            std::env::var_os("DISPLAY").is_some(),
            "no DISPLAY: run the real-app tests under `xvfb-run -a`"
        );
        let port = free_port()?;
        let native_port = free_port()?;
        let bin = std::env::var_os("TAURI_DRIVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("tauri-driver"));
        let log = std::fs::File::create(data_home.join("tauri-driver.log"))?;
        let child = Command::new(&bin)
            .arg("--port")
            .arg(port.to_string())
            .arg("--native-port")
            .arg(native_port.to_string())
            .env("XDG_DATA_HOME", data_home)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {} (cargo install tauri-driver)", bin.display()))?;
        let driver = Self {
            child,
            port,
            data_home: data_home.to_owned(),
        };
        wait_for("tauri-driver to listen", || async move {
            Ok(tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
                .map(|_| ()))
        })
        .await?;
        Ok(driver)
    }

    /// The app's SQLite file (`$XDG_DATA_HOME/fr.paris.carnet/carnet.sqlite3`).
    pub fn database(&self) -> PathBuf {
        self.data_home.join("fr.paris.carnet/carnet.sqlite3")
    }

    /// Starts the app (a new WebDriver session) and waits for its first screen.
    pub async fn launch(&self) -> anyhow::Result<App> {
        let app_bin = binary("CARNET_APP_BIN", "carnet-app");
        ensure!(
            app_bin.exists(),
            "{} missing: scripts/build-app.sh",
            app_bin.display()
        );
        let app_bin = std::fs::canonicalize(&app_bin)?;
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("wry"));
        caps.insert(
            "tauri:options".into(),
            json!({ "application": app_bin.to_string_lossy() }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .context("WebDriver session with the app")?;
        let pids = process::descendants_named(self.child.id(), "carnet-app");
        let app = App {
            client,
            pid: pids.last().copied(),
        };
        app.wait_first_screen().await?;
        Ok(app)
    }

    pub fn stop(mut self) -> anyhow::Result<()> {
        process::terminate(&mut self.child, Duration::from_secs(10))?;
        Ok(())
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = process::terminate(&mut self.child, Duration::from_secs(10));
    }
}

/// One running app and its WebDriver session.
pub struct App {
    pub client: Client,
    /// The `carnet-app` process (found under tauri-driver in `/proc`).
    pub pid: Option<u32>,
}

/// The first screen is interactive: the enrolment form, the team's home, or a climate
/// volunteer's screen.
pub const FIRST_SCREEN: &str = "form.enrol, section.head, .climate-home";

impl App {
    async fn wait_first_screen(&self) -> anyhow::Result<()> {
        self.wait_css(FIRST_SCREEN).await.map(|_| ())
    }

    /// Waits until `css` matches a displayed element.
    pub async fn wait_css(&self, css: &str) -> anyhow::Result<Element> {
        let client = &self.client;
        wait_for(css, || async move {
            match client.find(Locator::Css(css)).await {
                Ok(e) if e.is_displayed().await.unwrap_or(false) => Ok(Some(e)),
                _ => Ok(None),
            }
        })
        .await
    }

    /// Waits until the text of `css` (trimmed) satisfies `pred`; returns that text.
    pub async fn wait_text(
        &self,
        css: &str,
        what: &str,
        pred: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        let client = &self.client;
        let pred = &pred;
        wait_for(&format!("{css}: {what}"), || async move {
            let Ok(e) = client.find(Locator::Css(css)).await else {
                return Ok(None);
            };
            let text = e.text().await.unwrap_or_default();
            let text = text.trim();
            Ok(pred(text).then(|| text.to_owned()))
        })
        .await
    }

    /// Waits until `css` matches nothing.
    pub async fn wait_gone(&self, css: &str) -> anyhow::Result<()> {
        let client = &self.client;
        wait_for(&format!("{css} to go"), || async move {
            Ok(client
                .find_all(Locator::Css(css))
                .await
                .map(|v| v.is_empty())
                .unwrap_or(false)
                .then_some(()))
        })
        .await
    }

    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        let e = self.wait_css(css).await?;
        // Bring it into view first: the form is longer than the screen.
        self.client
            .execute(
                "arguments[0].scrollIntoView({block: 'center'});",
                vec![serde_json::to_value(&e)?],
            )
            .await?;
        e.click().await.with_context(|| format!("clicking {css}"))?;
        Ok(())
    }

    /// A button by its exact visible text (French UI wording).
    pub async fn click_button(&self, text: &str) -> anyhow::Result<()> {
        self.click_xpath(&format!(
            "//button[normalize-space()={}]",
            xpath_literal(text)
        ))
        .await
    }

    /// The first element matching an XPath expression.
    pub async fn click_xpath(&self, xpath: &str) -> anyhow::Result<()> {
        let client = &self.client;
        let e = wait_for(xpath, || async move {
            Ok(client.find(Locator::XPath(xpath)).await.ok())
        })
        .await?;
        self.client
            .execute(
                "arguments[0].scrollIntoView({block: 'center'});",
                vec![serde_json::to_value(&e)?],
            )
            .await?;
        e.click()
            .await
            .with_context(|| format!("clicking {xpath}"))?;
        Ok(())
    }

    /// Replaces the value of an input or textarea by typing.
    pub async fn fill(&self, css: &str, value: &str) -> anyhow::Result<()> {
        let e = self.wait_css(css).await?;
        e.clear().await?;
        e.send_keys(value).await?;
        Ok(())
    }

    /// Taps option `value` (its code) of the form's choice group whose legend is `legend`.
    pub async fn choose(&self, legend: &str, value: &str) -> anyhow::Result<()> {
        let group = format!(
            "//fieldset[legend[normalize-space()={}]]",
            xpath_literal(legend)
        );
        self.tap_option(&group, value).await
    }

    /// Taps option `value` of questionnaire question `question`.
    pub async fn answer(&self, question: &str, value: &str) -> anyhow::Result<()> {
        self.tap_option(&format!("//section[@data-question='{question}']"), value)
            .await
    }

    /// "Ne sait pas" / "Ne souhaite pas répondre" under question `question`.
    pub async fn answer_special(&self, question: &str, label: &str) -> anyhow::Result<()> {
        let button = format!(
            "//section[@data-question='{question}']//div[@class='special' or contains(@class,'special')]/button[normalize-space()={}]",
            xpath_literal(label)
        );
        self.click_xpath(&button).await?;
        self.wait_xpath(&format!("{button}[@aria-pressed='true']"))
            .await
    }

    async fn tap_option(&self, group: &str, value: &str) -> anyhow::Result<()> {
        let button = format!("{group}//button[@data-value='{value}']");
        self.click_xpath(&button).await?;
        self.wait_xpath(&format!("{button}[@aria-checked='true']"))
            .await
    }

    /// Waits until an XPath expression matches something.
    pub async fn wait_xpath(&self, xpath: &str) -> anyhow::Result<()> {
        let client = &self.client;
        wait_for(xpath, || async move {
            Ok(client.find(Locator::XPath(xpath)).await.ok().map(|_| ()))
        })
        .await
    }

    /// Saves a PNG of the webview as `artifacts/app-screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let png = self.client.screenshot().await?;
        let path = screenshot_dir()?.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// Ends the session the polite way (WebKitWebDriver closes the app).
    pub async fn close(self) -> anyhow::Result<()> {
        self.client.close().await?;
        Ok(())
    }

    /// Kills the app process (SIGKILL: no chance to flush anything) and drops the session.
    pub async fn kill(self) -> anyhow::Result<()> {
        let Some(pid) = self.pid else {
            bail!("the app's process was not found under tauri-driver");
        };
        process::signal(pid, "KILL")?;
        wait_for("the killed app to exit", || async move {
            Ok(process::is_dead(pid).then_some(()))
        })
        .await?;
        // The session's browser is gone; ending the session may fail, which is expected.
        let _ = tokio::time::timeout(Duration::from_secs(10), self.client.close()).await;
        Ok(())
    }
}

/// An XPath string literal for any text (French texts hold apostrophes).
fn xpath_literal(s: &str) -> String {
    if !s.contains('\'') {
        format!("'{s}'")
    } else if !s.contains('"') {
        format!("\"{s}\"")
    } else {
        let parts: Vec<String> = s.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}
