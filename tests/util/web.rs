//! A web server for the tests of remotes read over HTTP.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// `python3 -m http.server` over a folder, on a free port of 127.0.0.1; stopped on drop.
pub struct WebServer {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

impl WebServer {
    /// Serves `dir`.
    pub fn serve(dir: &Path) -> WebServer {
        let mut child = Command::new("python3")
            .args([
                "-u",
                "-m",
                "http.server",
                "0",
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3 -m http.server");
        // "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..."
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .split("port ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected http.server banner: {line:?}"));
        WebServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
