//! A small pickle reader for what `torch.save` writes into `data.pkl`:
//! dicts, tuples, numbers and strings, globals, `REDUCE` calls and persistent
//! storage ids. Calls are not executed; they are kept as [`Value::Call`] for
//! the caller to interpret, so no code from the file ever runs.

use std::collections::HashMap;

use crate::error::{Error, Result};

/// A decoded pickle value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An integer that fits in 64 bits.
    Int(i64),
    /// A float.
    Float(f64),
    /// A text string.
    Str(String),
    /// A byte string.
    Bytes(Vec<u8>),
    /// A tuple.
    Tuple(Vec<Value>),
    /// A list.
    List(Vec<Value>),
    /// A dict, in insertion order.
    Dict(Vec<(Value, Value)>),
    /// A reference to `module.name`.
    Global(String, String),
    /// `callable(*args)`, not executed; `state` is what `BUILD` set on the result.
    Call {
        /// What would be called (usually a [`Value::Global`]).
        callable: Box<Value>,
        /// The argument tuple.
        args: Box<Value>,
    },
    /// A persistent id; torch uses these for tensor storages.
    Persistent(Box<Value>),
}

/// Decodes one pickle.
pub fn parse(bytes: &[u8]) -> Result<Value> {
    Machine::default().run(bytes)
}

fn corrupt(what: impl std::fmt::Display) -> Error {
    Error::Weights(format!("checkpoint pickle is unreadable: {what}"))
}

#[derive(Default)]
struct Machine {
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
}

/// Reads opcodes and their arguments, failing cleanly at the end of input.
struct Input<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Input<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(len).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| corrupt("it ends in the middle of an instruction"))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("length checked"))
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn len_u32(&mut self) -> Result<usize> {
        Ok(u32::from_le_bytes(self.array()?) as usize)
    }

    fn len_u64(&mut self) -> Result<usize> {
        usize::try_from(u64::from_le_bytes(self.array()?)).map_err(|_| corrupt("length overflow"))
    }

    fn line(&mut self) -> Result<String> {
        let rest = &self.bytes[self.at..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| corrupt("unterminated text argument"))?;
        let text = String::from_utf8_lossy(&rest[..end]).into_owned();
        self.at += end + 1;
        Ok(text)
    }

    fn utf8(&mut self, len: usize) -> Result<String> {
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| corrupt("invalid UTF-8 string"))
    }
}

impl Machine {
    fn run(mut self, bytes: &[u8]) -> Result<Value> {
        let mut input = Input { bytes, at: 0 };
        loop {
            let opcode = input.u8()?;
            if opcode == b'.' {
                return self.pop();
            }
            self.step(opcode, &mut input)?;
        }
    }

    fn step(&mut self, opcode: u8, input: &mut Input) -> Result<()> {
        match opcode {
            0x80 => drop(input.u8()?),         // PROTO
            0x95 => drop(input.array::<8>()?), // FRAME
            b'(' => self.marks.push(self.stack.len()),
            b'0' => drop(self.pop()?),
            b'1' => drop(self.pop_mark()?),
            b'2' => {
                let top = self.top()?.clone();
                self.stack.push(top);
            }
            b'N' => self.stack.push(Value::None),
            0x88 => self.stack.push(Value::Bool(true)),
            0x89 => self.stack.push(Value::Bool(false)),
            b'J' => self
                .stack
                .push(Value::Int(i32::from_le_bytes(input.array()?).into())),
            b'K' => self.stack.push(Value::Int(input.u8()?.into())),
            b'M' => self
                .stack
                .push(Value::Int(u16::from_le_bytes(input.array()?).into())),
            0x8a => {
                let len = usize::from(input.u8()?);
                self.stack
                    .push(Value::Int(little_endian_signed(input.take(len)?)?));
            }
            b'I' => self.stack.push(parse_text_int(&input.line()?)?),
            b'G' => self
                .stack
                .push(Value::Float(f64::from_be_bytes(input.array()?))),
            b'X' => {
                let len = input.len_u32()?;
                self.stack.push(Value::Str(input.utf8(len)?));
            }
            0x8c => {
                let len = usize::from(input.u8()?);
                self.stack.push(Value::Str(input.utf8(len)?));
            }
            0x8d => {
                let len = input.len_u64()?;
                self.stack.push(Value::Str(input.utf8(len)?));
            }
            b'T' | b'B' => {
                let len = input.len_u32()?;
                self.stack.push(bytes_value(opcode, input.take(len)?));
            }
            b'U' | b'C' => {
                let len = usize::from(input.u8()?);
                self.stack.push(bytes_value(opcode, input.take(len)?));
            }
            0x8e => {
                let len = input.len_u64()?;
                self.stack.push(Value::Bytes(input.take(len)?.to_vec()));
            }
            b'}' => self.stack.push(Value::Dict(Vec::new())),
            b']' => self.stack.push(Value::List(Vec::new())),
            b')' => self.stack.push(Value::Tuple(Vec::new())),
            b'd' => {
                let items = self.pop_mark()?;
                self.stack.push(Value::Dict(pairs(items)?));
            }
            b'l' => {
                let items = self.pop_mark()?;
                self.stack.push(Value::List(items));
            }
            b't' => {
                let items = self.pop_mark()?;
                self.stack.push(Value::Tuple(items));
            }
            0x85..=0x87 => {
                let n = usize::from(opcode - 0x84);
                let at = self
                    .stack
                    .len()
                    .checked_sub(n)
                    .ok_or_else(|| corrupt("stack underflow"))?;
                let items = self.stack.split_off(at);
                self.stack.push(Value::Tuple(items));
            }
            b's' => {
                let value = self.pop()?;
                let key = self.pop()?;
                self.dict_top()?.push((key, value));
            }
            b'u' => {
                let items = pairs(self.pop_mark()?)?;
                self.dict_top()?.extend(items);
            }
            b'a' => {
                let value = self.pop()?;
                self.list_top()?.push(value);
            }
            b'e' => {
                let items = self.pop_mark()?;
                self.list_top()?.extend(items);
            }
            b'c' => {
                let module = input.line()?;
                let name = input.line()?;
                self.stack.push(Value::Global(module, name));
            }
            0x93 => {
                let name = self.pop()?;
                let module = self.pop()?;
                match (module, name) {
                    (Value::Str(m), Value::Str(n)) => self.stack.push(Value::Global(m, n)),
                    _ => return Err(corrupt("STACK_GLOBAL needs two strings")),
                }
            }
            b'Q' => {
                let id = self.pop()?;
                self.stack.push(Value::Persistent(Box::new(id)));
            }
            b'R' | 0x81 => {
                let args = self.pop()?;
                let callable = self.pop()?;
                self.stack.push(Value::Call {
                    callable: Box::new(callable),
                    args: Box::new(args),
                });
            }
            // BUILD sets state on an object; torch only uses it for metadata we do not need.
            b'b' => drop(self.pop()?),
            b'q' => self.memoize(u32::from(input.u8()?))?,
            b'r' => self.memoize(u32::from_le_bytes(input.array()?))?,
            0x94 => self.memoize(self.memo.len() as u32)?,
            b'h' => self.recall(u32::from(input.u8()?))?,
            b'j' => self.recall(u32::from_le_bytes(input.array()?))?,
            other => return Err(corrupt(format!("unsupported pickle opcode 0x{other:02x}"))),
        }
        Ok(())
    }

    fn pop(&mut self) -> Result<Value> {
        self.stack.pop().ok_or_else(|| corrupt("stack underflow"))
    }

    fn top(&mut self) -> Result<&mut Value> {
        self.stack
            .last_mut()
            .ok_or_else(|| corrupt("stack underflow"))
    }

    fn pop_mark(&mut self) -> Result<Vec<Value>> {
        let mark = self.marks.pop().ok_or_else(|| corrupt("missing MARK"))?;
        if mark > self.stack.len() {
            return Err(corrupt("MARK above the stack"));
        }
        Ok(self.stack.split_off(mark))
    }

    fn dict_top(&mut self) -> Result<&mut Vec<(Value, Value)>> {
        match self.top()? {
            Value::Dict(items) => Ok(items),
            // `OrderedDict()` is a call until interpreted; setting items turns it into a dict.
            top @ Value::Call { .. } => {
                *top = Value::Dict(Vec::new());
                match top {
                    Value::Dict(items) => Ok(items),
                    _ => unreachable!("just assigned"),
                }
            }
            _ => Err(corrupt("SETITEM on something that is not a dict")),
        }
    }

    fn list_top(&mut self) -> Result<&mut Vec<Value>> {
        match self.top()? {
            Value::List(items) => Ok(items),
            _ => Err(corrupt("APPEND on something that is not a list")),
        }
    }

    fn memoize(&mut self, index: u32) -> Result<()> {
        let top = self.top()?.clone();
        self.memo.insert(index, top);
        Ok(())
    }

    fn recall(&mut self, index: u32) -> Result<()> {
        let value = self.memo.get(&index).cloned();
        self.stack
            .push(value.ok_or_else(|| corrupt(format!("memo entry {index} is missing")))?);
        Ok(())
    }
}

fn pairs(items: Vec<Value>) -> Result<Vec<(Value, Value)>> {
    if !items.len().is_multiple_of(2) {
        return Err(corrupt("odd number of dict items"));
    }
    let mut items = items.into_iter();
    Ok(std::iter::from_fn(|| Some((items.next()?, items.next()?))).collect())
}

fn bytes_value(opcode: u8, bytes: &[u8]) -> Value {
    match opcode {
        // Python 2 `str` (BINSTRING / SHORT_BINSTRING) holds text in torch files.
        b'T' | b'U' => Value::Str(String::from_utf8_lossy(bytes).into_owned()),
        _ => Value::Bytes(bytes.to_vec()),
    }
}

fn little_endian_signed(bytes: &[u8]) -> Result<i64> {
    if bytes.len() > 8 {
        return Err(corrupt("integer wider than 64 bits"));
    }
    let negative = bytes.last().is_some_and(|&b| b & 0x80 != 0);
    let mut buf = [if negative { 0xFF } else { 0 }; 8];
    buf[..bytes.len()].copy_from_slice(bytes);
    Ok(i64::from_le_bytes(buf))
}

fn parse_text_int(text: &str) -> Result<Value> {
    match text {
        "01" => Ok(Value::Bool(true)),
        "00" => Ok(Value::Bool(false)),
        _ => text
            .trim_end_matches('L')
            .parse()
            .map(Value::Int)
            .map_err(|_| corrupt(format!("bad integer '{text}'"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pickle.dumps({'a': (1, -2, 300, 70000, 2.5, None, True)}, protocol=2)`.
    const SMALL: &[u8] = b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01(K\x01J\xfe\xff\xff\xffM,\x01J\x70\x11\x01\x00G@\x04\x00\x00\x00\x00\x00\x00N\x88tq\x02s.";

    #[test]
    fn decodes_basic_values() {
        let value = parse(SMALL).unwrap();
        let expected = Value::Dict(vec![(
            Value::Str("a".into()),
            Value::Tuple(vec![
                Value::Int(1),
                Value::Int(-2),
                Value::Int(300),
                Value::Int(70000),
                Value::Float(2.5),
                Value::None,
                Value::Bool(true),
            ]),
        )]);
        assert_eq!(value, expected);
    }

    #[test]
    fn truncated_input_is_an_error() {
        for cut in 1..SMALL.len() {
            let err = parse(&SMALL[..cut]).unwrap_err().to_string();
            assert!(err.contains("pickle"), "{err}");
        }
    }

    #[test]
    fn unknown_opcode_is_named() {
        let err = parse(b"\x80\x02\xff.").unwrap_err().to_string();
        assert!(err.contains("opcode 0xff"), "{err}");
    }
}
