//! The PyTorch peer of `inctrl bench --against-torch`: one long-lived
//! `tools/bench-torch.sh --serve` process that times one measurement per
//! request, so that ours and its halves of a comparison run seconds apart.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use inctrl::{Error, Result};

use super::Measurement;

/// A running PyTorch benchmark that answers one request per line.
pub struct TorchPeer {
    script: PathBuf,
    child: Child,
    requests: ChildStdin,
    answers: BufReader<ChildStdout>,
    /// What the peer said when it started, e.g. "torch 2.15.0, 2 threads".
    pub label: String,
}

impl TorchPeer {
    /// Starts `script --serve --runs runs` and waits until its model is built.
    pub fn start(script: &Path, runs: usize) -> Result<Self> {
        let mut child = Command::new(script)
            .args(["--serve", "--runs", &runs.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Error::io(script.display(), e))?;
        let requests = child.stdin.take().expect("stdin was piped");
        let answers = BufReader::new(child.stdout.take().expect("stdout was piped"));
        let mut peer = Self {
            script: script.to_owned(),
            child,
            requests,
            answers,
            label: String::new(),
        };
        let hello = peer.answer()?;
        peer.label = format!(
            "torch {}, {} threads",
            hello["torch"].as_str().unwrap_or("?"),
            hello["threads"]
        );
        Ok(peer)
    }

    /// Times `measurement`: milliseconds, or GFLOP/s for the matrix product.
    pub fn time(&mut self, measurement: Measurement) -> Result<f64> {
        let request = match measurement {
            Measurement::Matmul => "matmul".to_string(),
            Measurement::PromptSet(k) => format!("prompt_set {k}"),
            Measurement::Query => "query".to_string(),
        };
        writeln!(self.requests, "{request}")
            .and_then(|()| self.requests.flush())
            .map_err(|e| Error::io(self.script.display(), e))?;
        let answer = self.answer()?;
        let key = match measurement {
            Measurement::Matmul => "matmul_gflops",
            _ => "ms",
        };
        answer[key].as_f64().ok_or_else(|| {
            Error::InvalidInput(format!(
                "{} answered {request:?} with {answer}",
                self.script.display()
            ))
        })
    }

    /// The next JSON line the peer prints.
    fn answer(&mut self) -> Result<serde_json::Value> {
        let mut line = String::new();
        let read = self
            .answers
            .read_line(&mut line)
            .map_err(|e| Error::io(self.script.display(), e))?;
        if read == 0 {
            let status = self
                .child
                .wait()
                .map_err(|e| Error::io(self.script.display(), e))?;
            return Err(Error::InvalidInput(format!(
                "{} stopped ({status}); its messages are above",
                self.script.display()
            )));
        }
        serde_json::from_str(&line).map_err(|e| {
            Error::InvalidInput(format!(
                "{} printed {line:?}, not JSON: {e}",
                self.script.display()
            ))
        })
    }
}

impl Drop for TorchPeer {
    /// Stops the peer, which holds a whole model in memory, and reaps it.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
