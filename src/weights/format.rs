//! Recognising a weights file from its first bytes: the one sniffer the CLI,
//! the library and the browser package share.

use crate::error::{Error, Result};

/// How many leading bytes [`WeightsFormat::sniff`] needs to decide.
pub const SNIFF_LEN: usize = 9;

/// The kinds of weights file inctrl reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightsFormat {
    /// An inctrl `.bpk` bundle (burnpack).
    Bundle,
    /// A PyTorch `torch.save` zip archive (`.pyth`, `.pt`, `.pth`): an official checkpoint.
    TorchZip,
    /// A safetensors file holding a checkpoint's state dict.
    Safetensors,
}

impl WeightsFormat {
    /// Recognises a file from its first [`SNIFF_LEN`] bytes (fewer if the file is shorter).
    pub fn sniff(head: &[u8]) -> Result<Self> {
        if head.is_empty() {
            return Err(Error::Weights("file is empty (0 bytes)".into()));
        }
        let magic = head
            .get(..4)
            .map(|m| u32::from_le_bytes(m.try_into().unwrap()));
        if magic == Some(burn_store::burn_pack::MAGIC_NUMBER) {
            Ok(Self::Bundle)
        } else if head.starts_with(b"PK") {
            Ok(Self::TorchZip)
        } else if head[0] == 0x80 {
            Err(Error::Weights(
                "this is a legacy (pre-1.6, non-zip) torch.save file; re-save it with \
                 torch.save(state_dict, path) from a current PyTorch"
                    .into(),
            ))
        } else if head.get(8) == Some(&b'{') {
            // A little-endian header length, then the JSON header.
            Ok(Self::Safetensors)
        } else {
            Err(unrecognised())
        }
    }

    /// Whether this is a checkpoint (which needs a model config), not a bundle.
    pub fn is_checkpoint(self) -> bool {
        self != Self::Bundle
    }

    /// The name the browser package uses: `bundle` or `checkpoint`.
    pub fn kind(self) -> &'static str {
        if self.is_checkpoint() {
            "checkpoint"
        } else {
            "bundle"
        }
    }
}

/// The error for bytes that are no weights file inctrl knows.
pub(crate) fn unrecognised() -> Error {
    Error::Weights(
        "unrecognised weights file (expected a PyTorch .pyth/.pt zip checkpoint, a .safetensors \
         file or an inctrl .bpk bundle)"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_each_format_and_names_the_rest() {
        let bundle = burn_store::burn_pack::MAGIC_NUMBER.to_le_bytes();
        assert_eq!(
            WeightsFormat::sniff(&bundle).unwrap(),
            WeightsFormat::Bundle
        );
        assert_eq!(
            WeightsFormat::sniff(b"PK\x03\x04").unwrap(),
            WeightsFormat::TorchZip
        );
        let safetensors = [&100u64.to_le_bytes()[..], b"{"].concat();
        assert_eq!(
            WeightsFormat::sniff(&safetensors).unwrap(),
            WeightsFormat::Safetensors
        );
        let message = |head: &[u8]| WeightsFormat::sniff(head).unwrap_err().to_string();
        assert!(message(b"").contains("empty"));
        assert!(message(b"\x80\x02legacy").contains("legacy"));
        assert!(message(b"definitely not weights").contains("unrecognised weights file"));
        assert!(message(b"NRU").contains("unrecognised weights file"));
    }
}
