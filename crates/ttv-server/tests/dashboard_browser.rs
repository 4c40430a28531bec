//! The dashboard in a real headless browser (Debian's chromium), driven over the DevTools
//! protocol through a minimal WebSocket client: type a prompt, see the estimate, submit an
//! animatic job, wait for it to finish and check that the inline `<video>` has loaded the
//! clip (`readyState`, `duration`). Without chromium the test fails under `CI=true` and is
//! skipped (saying so) elsewhere.

mod common;

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

/// A WebSocket client of just what the DevTools protocol needs: text frames.
struct Ws {
    stream: TcpStream,
}

impl Ws {
    async fn connect(url: &str) -> Ws {
        let rest = url.strip_prefix("ws://").unwrap();
        let (host, path) = rest.split_once('/').unwrap();
        let mut stream = TcpStream::connect(host).await.unwrap();
        let request = format!(
            "GET /{path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut b = [0u8; 1];
            stream.read_exact(&mut b).await.unwrap();
            head.push(b[0]);
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        Ws { stream }
    }

    async fn send(&mut self, text: &str) {
        let payload = text.as_bytes();
        let mut frame = vec![0x81u8];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n < 65536 => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask: [u8; 4] = uuid::Uuid::new_v4().as_bytes()[..4].try_into().unwrap();
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).await.unwrap();
    }

    /// The next whole text message.
    async fn recv(&mut self) -> String {
        let mut message = Vec::new();
        loop {
            let mut h = [0u8; 2];
            self.stream.read_exact(&mut h).await.unwrap();
            let fin = h[0] & 0x80 != 0;
            let opcode = h[0] & 0x0f;
            let mut len = u64::from(h[1] & 0x7f);
            if len == 126 {
                let mut b = [0u8; 2];
                self.stream.read_exact(&mut b).await.unwrap();
                len = u64::from(u16::from_be_bytes(b));
            } else if len == 127 {
                let mut b = [0u8; 8];
                self.stream.read_exact(&mut b).await.unwrap();
                len = u64::from_be_bytes(b);
            }
            let mut payload = vec![0u8; len as usize];
            self.stream.read_exact(&mut payload).await.unwrap();
            match opcode {
                0x0 | 0x1 => message.extend(payload),
                0x8 => panic!("the browser closed the DevTools connection"),
                _ => continue,
            }
            if fin {
                return String::from_utf8(message).unwrap();
            }
        }
    }
}

/// A DevTools session: numbered commands, answers matched by id (events skipped).
struct Cdp {
    ws: Ws,
    next: u64,
}

impl Cdp {
    async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        let reply = self.try_call(session, method, params).await;
        assert!(reply.get("error").is_none(), "{method}: {reply}");
        reply["result"].clone()
    }

    /// The whole reply, error or result.
    async fn try_call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next += 1;
        let mut msg = json!({ "id": self.next, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.ws.send(&msg.to_string()).await;
        loop {
            let reply: Value = serde_json::from_str(&self.ws.recv().await).unwrap();
            if reply["id"] == self.next {
                return reply;
            }
        }
    }
}

const SCRIPT: &str = r#"(async () => {
  const $ = (id) => document.getElementById(id);
  for (let i = 0; i < 100 && !$("prompt"); i++) await new Promise((r) => setTimeout(r, 50));
  $("prompt").value = "A lighthouse on a cliff at dusk";
  $("backend").value = "animatic";
  $("duration").value = "1";
  $("prompt").dispatchEvent(new Event("input"));
  let estimate = "";
  for (let i = 0; i < 100; i++) {
    estimate = $("estimate").textContent;
    if (estimate.startsWith("estimate: $")) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  $("go").click();
  for (let i = 0; i < 900; i++) {
    const v = document.querySelector("video");
    if (v && v.readyState >= 2 && v.duration > 0) {
      return { estimate, readyState: v.readyState, duration: v.duration,
               state: v.closest("tr").querySelector(".state").textContent,
               progress: v.closest("tr").querySelector("progress").value };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { estimate, timeout: true, body: document.body.innerText };
})()"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_submits_a_job_shows_its_estimate_and_plays_the_finished_video() {
    let Some(chromium) = ["chromium", "chromium-browser"].into_iter().find(|c| {
        std::process::Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromium is missing; .ci/run installs it (apt-get install chromium)"
        );
        eprintln!("skipped: chromium is not installed (apt-get install chromium)");
        return;
    };
    let s = common::start(common::Setup::default()).await;
    let profile = tempfile::tempdir().unwrap();
    let mut browser = tokio::process::Command::new(chromium)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .args([
            "--remote-debugging-port=0",
            "--autoplay-policy=no-user-gesture-required",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("about:blank")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(browser.stderr.take().unwrap()).lines();
    let ws_url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("DevTools listening on ") {
                return url.trim().to_owned();
            }
        }
        panic!("chromium exited without a DevTools address");
    })
    .await
    .expect("chromium printed its DevTools address");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let mut cdp = Cdp {
        ws: Ws::connect(&ws_url).await,
        next: 0,
    };
    let target = cdp
        .call(None, "Target.createTarget", json!({ "url": s.url("/") }))
        .await;
    let attached = cdp
        .call(
            None,
            "Target.attachToTarget",
            json!({ "targetId": target["targetId"], "flatten": true }),
        )
        .await;
    let session = attached["sessionId"].as_str().unwrap().to_owned();
    // Wait until the dashboard has loaded (evaluating during the navigation loses the context).
    let page = s.url("/");
    let mut loaded = false;
    for _ in 0..200 {
        let reply = cdp
            .try_call(
                Some(&session),
                "Runtime.evaluate",
                json!({ "expression": "location.href + ' ' + document.readyState", "returnByValue": true }),
            )
            .await;
        if reply["result"]["result"]["value"] == format!("{page} complete") {
            loaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(loaded, "the dashboard never finished loading");
    let result = cdp
        .call(
            Some(&session),
            "Runtime.evaluate",
            json!({ "expression": SCRIPT, "awaitPromise": true, "returnByValue": true, "timeout": 120000 }),
        )
        .await;
    let got = &result["result"]["value"];
    assert!(
        got.get("timeout").is_none(),
        "the video never loaded: {got}"
    );
    assert_eq!(got["estimate"], "estimate: $0.00 on animatic", "{got}");
    assert_eq!(got["state"], "done", "{got}");
    assert_eq!(got["progress"], 100, "{got}");
    assert!(got["readyState"].as_u64().unwrap() >= 2, "{got}");
    let duration = got["duration"].as_f64().unwrap();
    assert!((duration - 1.0).abs() < 0.1, "a 1 s clip: {duration}");
    let _ = browser.kill().await;
}
