//! OpenCLIP's tokenizer: text cleaning, byte-level BPE (the 49,408-token
//! vocabulary of `bpe_simple_vocab_16e6.txt`, from the `instant-clip-tokenizer`
//! crate), start/end markers and zero padding.

use instant_clip_tokenizer::Tokenizer as Bpe;

/// Token ids of one text, as open_clip's `tokenize` returns them.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenIds {
    /// `[SOT, ..., EOT, 0, 0, ...]`, exactly `context_length` ids.
    pub ids: Vec<u32>,
    /// Index of the end-of-text token (the position of the largest id).
    pub eot: usize,
}

/// The CLIP BPE tokenizer.
pub struct ClipTokenizer {
    bpe: Bpe,
}

impl Default for ClipTokenizer {
    fn default() -> Self {
        Self::new()
    }
}

impl ClipTokenizer {
    /// Builds the tokenizer (parses the 262k-line merge list once; keep it around).
    pub fn new() -> Self {
        Self { bpe: Bpe::new() }
    }

    /// Tokenizes `text` into `context_length` ids. As in open_clip, whitespace is
    /// collapsed, the text is lowercased, and a text that is too long keeps its
    /// first `context_length - 1` tokens followed by the end-of-text marker.
    pub fn tokenize(&self, text: &str, context_length: usize) -> TokenIds {
        let cleaned = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut tokens = vec![self.bpe.start_of_text()];
        self.bpe.encode(&cleaned, &mut tokens);
        tokens.truncate(context_length - 1);
        tokens.push(self.bpe.end_of_text());
        let eot = tokens.len() - 1;
        let mut ids: Vec<u32> = tokens.into_iter().map(|t| u32::from(t.to_u16())).collect();
        ids.resize(context_length, 0);
        TokenIds { ids, eot }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_open_clip_on_a_known_prompt() {
        let t = ClipTokenizer::new().tokenize("a cropped photo of the metal nut.", 12);
        assert_eq!(
            t.ids,
            [
                49406, 320, 31139, 1125, 539, 518, 4044, 6491, 269, 49407, 0, 0
            ]
        );
        assert_eq!(t.eot, 9);
    }

    #[test]
    fn long_text_is_cut_and_ends_with_eot() {
        let t = ClipTokenizer::new().tokenize(&"word ".repeat(100), 8);
        assert_eq!(t.ids.len(), 8);
        assert_eq!((t.ids[7], t.eot), (49407, 7));
    }
}
