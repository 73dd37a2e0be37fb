//! The prompt library: WAV files loaded once and pre-encoded into 20 ms G.711 frames
//! (RFC 3551 §4.5.14 PCMU/PCMA, 8 kHz, 160 samples per packet).
//!
//! Accepted files are 8 kHz mono PCM16 (read with `hound`) and 8 kHz mono µ-law or
//! A-law (WAVE format tags 7 and 6, read by the small RIFF walker below because
//! `hound` does not read them). Anything else is refused with a message naming the
//! file and the problem, so a bad prompt is caught at startup, never mid-call.

use crate::media::codec::{Codec, FRAME_SAMPLES};
use crate::media::g711;
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// One 20 ms frame of G.711 bytes.
pub type Frame = [u8; FRAME_SAMPLES];

/// The sample rate every prompt must have: G.711's RTP clock.
const SAMPLE_RATE: u32 = 8000;

/// Directory levels followed below the root; deeper means a symlink loop or a mistake.
const MAX_DEPTH: usize = 16;

const FORMAT_PCM: u16 = 1;
const FORMAT_ALAW: u16 = 6;
const FORMAT_ULAW: u16 = 7;
/// WAVE_FORMAT_EXTENSIBLE: the real tag is the first two bytes of the sub-format GUID.
const FORMAT_EXTENSIBLE: u16 = 0xFFFE;

/// Why the library could not be loaded. Every variant names the offending path.
#[derive(Debug, Error)]
pub enum PromptError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: {reason}", path.display())]
    Format { path: PathBuf, reason: String },
    #[error("{}: prompt id {id:?} is already used by another file", path.display())]
    DuplicateId { path: PathBuf, id: String },
}

/// One prompt, encoded for both codecs so a call never transcodes.
#[derive(Debug, PartialEq, Eq)]
pub struct Prompt {
    id: String,
    frames_pcmu: Arc<[Frame]>,
    frames_pcma: Arc<[Frame]>,
}

impl Prompt {
    /// Builds a prompt from 8 kHz linear samples.
    pub fn from_pcm16(id: impl Into<String>, samples: &[i16]) -> Prompt {
        Prompt {
            id: id.into(),
            frames_pcmu: to_frames(Codec::Pcmu, samples, |&s| g711::encode_ulaw(s)),
            frames_pcma: to_frames(Codec::Pcma, samples, |&s| g711::encode_alaw(s)),
        }
    }

    /// Builds a prompt from µ-law bytes; the A-law copy uses the G.711 transcoding table.
    pub fn from_ulaw(id: impl Into<String>, bytes: &[u8]) -> Prompt {
        Prompt {
            id: id.into(),
            frames_pcmu: to_frames(Codec::Pcmu, bytes, |&b| b),
            frames_pcma: to_frames(Codec::Pcma, bytes, |&b| g711::ulaw_to_alaw(b)),
        }
    }

    /// Builds a prompt from A-law bytes; the µ-law copy uses the G.711 transcoding table.
    pub fn from_alaw(id: impl Into<String>, bytes: &[u8]) -> Prompt {
        Prompt {
            id: id.into(),
            frames_pcmu: to_frames(Codec::Pcmu, bytes, |&b| g711::alaw_to_ulaw(b)),
            frames_pcma: to_frames(Codec::Pcma, bytes, |&b| b),
        }
    }

    /// The library id, e.g. `it/benvenuto`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The frames for `codec`; the last one is padded with silence.
    pub fn frames(&self, codec: Codec) -> &[Frame] {
        match codec {
            Codec::Pcmu => &self.frames_pcmu,
            Codec::Pcma => &self.frames_pcma,
        }
    }

    /// Number of 20 ms frames (the same for both codecs).
    pub fn frame_count(&self) -> usize {
        self.frames_pcmu.len()
    }

    /// Playing time, rounded up to whole frames.
    pub fn duration(&self) -> Duration {
        Duration::from_millis(20 * self.frame_count() as u64)
    }
}

/// Splits `input` into frames, encoding each item with `encode` and padding the tail
/// with the codec's silence code.
fn to_frames<T>(codec: Codec, input: &[T], encode: impl Fn(&T) -> u8) -> Arc<[Frame]> {
    let mut frames =
        vec![[g711::silence(codec); FRAME_SAMPLES]; input.len().div_ceil(FRAME_SAMPLES)];
    for (frame, chunk) in frames.iter_mut().zip(input.chunks(FRAME_SAMPLES)) {
        for (out, item) in frame.iter_mut().zip(chunk) {
            *out = encode(item);
        }
    }
    frames.into()
}

/// All prompts by id. Cheap to share: prompts are handed out as `Arc`s.
#[derive(Debug, Default)]
pub struct PromptLibrary {
    prompts: BTreeMap<String, Arc<Prompt>>,
}

impl PromptLibrary {
    /// Loads every `*.wav` under `dir`, recursively. The id is the path relative to
    /// `dir` without the extension, with `/` separators (`it/benvenuto`). Hidden
    /// files and directories (name starting with `.`) are skipped.
    pub fn load(dir: &Path) -> Result<PromptLibrary, PromptError> {
        let mut files = Vec::new();
        collect_wavs(dir, 0, &mut files)?;
        let mut library = PromptLibrary::default();
        for path in files {
            let id = prompt_id(dir, &path)?;
            let bytes = fs::read(&path).map_err(|source| PromptError::Io {
                path: path.clone(),
                source,
            })?;
            let prompt = decode_wav(id.clone(), &bytes).map_err(|reason| PromptError::Format {
                path: path.clone(),
                reason,
            })?;
            if library.prompts.contains_key(&id) {
                return Err(PromptError::DuplicateId { path, id });
            }
            library.insert(prompt);
        }
        Ok(library)
    }

    /// Adds (or replaces) a prompt; for prompts built in code and for tests.
    pub fn insert(&mut self, prompt: Prompt) {
        self.prompts.insert(prompt.id.clone(), Arc::new(prompt));
    }

    pub fn get(&self, id: &str) -> Option<Arc<Prompt>> {
        self.prompts.get(id).cloned()
    }

    /// All ids in sorted order.
    pub fn ids(&self) -> impl Iterator<Item = &str> + '_ {
        self.prompts.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.prompts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prompts.is_empty()
    }
}

/// Appends the `.wav` files under `dir` to `out`, sorted so that loading (and which
/// error is reported first) does not depend on directory order.
fn collect_wavs(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), PromptError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PromptError::Io { path, source }
    };
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        entries.push(entry.map_err(io_err(dir))?.path());
    }
    entries.sort();
    for path in entries {
        let hidden = path
            .file_name()
            .is_some_and(|n| n.as_encoded_bytes().starts_with(b"."));
        if hidden {
            continue;
        }
        // fs::metadata follows symlinks, so linked prompt folders work.
        let meta = fs::metadata(&path).map_err(io_err(&path))?;
        if meta.is_dir() {
            if depth >= MAX_DEPTH {
                return Err(PromptError::Format {
                    path,
                    reason: format!("directories nested deeper than {MAX_DEPTH} levels"),
                });
            }
            collect_wavs(&path, depth + 1, out)?;
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// `root/it/benvenuto.wav` -> `it/benvenuto`.
fn prompt_id(root: &Path, path: &Path) -> Result<String, PromptError> {
    let rel = path.strip_prefix(root).unwrap_or(path).with_extension("");
    let mut id = String::new();
    for part in rel.components() {
        let part = part
            .as_os_str()
            .to_str()
            .ok_or_else(|| PromptError::Format {
                path: path.to_path_buf(),
                reason: "file name is not valid UTF-8".into(),
            })?;
        if !id.is_empty() {
            id.push('/');
        }
        id.push_str(part);
    }
    Ok(id)
}

/// What the `fmt ` chunk says, plus the `data` chunk's bytes.
struct WavInfo<'a> {
    format: u16,
    channels: u16,
    sample_rate: u32,
    bits_per_sample: u16,
    data: &'a [u8],
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Walks the RIFF chunks of a WAVE file for `fmt ` and `data`.
fn read_riff(bytes: &[u8]) -> Result<WavInfo<'_>, String> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err("not a RIFF/WAVE file".into());
    }
    let mut fmt: Option<&[u8]> = None;
    let mut pos = 12;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let size = le32(bytes, pos + 4) as usize;
        let body_start = pos + 8;
        // A streaming writer may leave the data size unset (0 or 0xFFFFFFFF), so the
        // data chunk is clamped to the file; other chunks must fit.
        let body_end = body_start.saturating_add(size).min(bytes.len());
        let body = &bytes[body_start..body_end];
        match id {
            b"fmt " => {
                if body.len() < 16 {
                    return Err(format!(
                        "fmt chunk of {} bytes, expected at least 16",
                        body.len()
                    ));
                }
                fmt = Some(body);
            }
            b"data" => {
                let fmt = fmt.ok_or("data chunk before fmt chunk")?;
                let mut format = le16(fmt, 0);
                if format == FORMAT_EXTENSIBLE {
                    // cbSize(2) validBits(2) channelMask(4) at 16..24, GUID at 24..40.
                    if fmt.len() < 40 {
                        return Err("WAVE_FORMAT_EXTENSIBLE fmt chunk is truncated".into());
                    }
                    format = le16(fmt, 24);
                }
                return Ok(WavInfo {
                    format,
                    channels: le16(fmt, 2),
                    sample_rate: le32(fmt, 4),
                    bits_per_sample: le16(fmt, 14),
                    data: body,
                });
            }
            _ => {}
        }
        // Chunks are padded to an even length.
        pos = body_start.saturating_add(size).saturating_add(size & 1);
    }
    Err("no data chunk".into())
}

fn format_name(tag: u16) -> String {
    match tag {
        2 => "MS ADPCM".into(),
        3 => "IEEE float".into(),
        0x11 => "IMA ADPCM".into(),
        0x31 => "GSM 6.10".into(),
        0x55 => "MP3".into(),
        _ => format!("format tag {tag}"),
    }
}

/// Checks the format and builds the prompt, or says what is wrong with the file.
fn decode_wav(id: String, bytes: &[u8]) -> Result<Prompt, String> {
    let info = read_riff(bytes)?;
    let expected_bits = match info.format {
        FORMAT_PCM => 16,
        FORMAT_ULAW | FORMAT_ALAW => 8,
        other => {
            return Err(format!(
                "unsupported encoding {}, expected PCM16, µ-law or A-law",
                format_name(other)
            ));
        }
    };
    if info.sample_rate != SAMPLE_RATE {
        return Err(format!(
            "sample rate {} Hz, expected {SAMPLE_RATE}",
            info.sample_rate
        ));
    }
    if info.channels != 1 {
        return Err(format!("{} channels, expected mono", info.channels));
    }
    if info.bits_per_sample != expected_bits {
        return Err(format!(
            "{} bits per sample, expected {expected_bits}",
            info.bits_per_sample
        ));
    }
    if info.data.is_empty() {
        return Err("no audio samples".into());
    }
    match info.format {
        FORMAT_ULAW => Ok(Prompt::from_ulaw(id, info.data)),
        FORMAT_ALAW => Ok(Prompt::from_alaw(id, info.data)),
        _ => {
            let mut reader =
                hound::WavReader::new(io::Cursor::new(bytes)).map_err(|e| e.to_string())?;
            let samples = reader
                .samples::<i16>()
                .collect::<Result<Vec<i16>, _>>()
                .map_err(|e| e.to_string())?;
            Ok(Prompt::from_pcm16(id, &samples))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pcm16(path: &Path, rate: u32, channels: u16, samples: &[i16]) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for &s in samples {
            w.write_sample(s).unwrap();
        }
        w.finalize().unwrap();
    }

    /// A hand-built WAVE file: fmt chunk with the given fields, an odd-sized junk
    /// chunk (to exercise padding), then the data chunk.
    fn riff(format: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
        let block = channels * bits / 8;
        let mut fmt = Vec::new();
        fmt.extend_from_slice(&format.to_le_bytes());
        fmt.extend_from_slice(&channels.to_le_bytes());
        fmt.extend_from_slice(&rate.to_le_bytes());
        fmt.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
        fmt.extend_from_slice(&block.to_le_bytes());
        fmt.extend_from_slice(&bits.to_le_bytes());
        fmt.extend_from_slice(&0u16.to_le_bytes()); // cbSize, as non-PCM formats carry
        let mut body = b"WAVE".to_vec();
        for (id, chunk) in [
            (b"fmt ", &fmt[..]),
            (b"junk", &[1, 2, 3][..]),
            (b"data", data),
        ] {
            body.extend_from_slice(id);
            body.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
            body.extend_from_slice(chunk);
            if chunk.len() % 2 == 1 {
                body.push(0);
            }
        }
        let mut out = b"RIFF".to_vec();
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    fn write(path: &Path, bytes: &[u8]) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }

    fn load_err(dir: &Path) -> String {
        PromptLibrary::load(dir).unwrap_err().to_string()
    }

    #[test]
    fn loads_all_three_formats_recursively_with_slash_ids() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let ramp: Vec<i16> = (0..400).map(|i| (i * 50 - 10000) as i16).collect();
        write_pcm16(&root.join("it/benvenuto.wav"), 8000, 1, &ramp);
        let ulaw: Vec<u8> = ramp.iter().map(|&s| g711::encode_ulaw(s)).collect();
        write(&root.join("it/menu/uno.wav"), &riff(7, 1, 8000, 8, &ulaw));
        let alaw: Vec<u8> = ramp.iter().map(|&s| g711::encode_alaw(s)).collect();
        write(&root.join("en/BYE.WAV"), &riff(6, 1, 8000, 8, &alaw));
        write(&root.join("en/readme.txt"), b"not a prompt");
        write(&root.join(".hidden/x.wav"), b"garbage");
        write(&root.join("en/._junk.wav"), b"garbage");

        let lib = PromptLibrary::load(root).unwrap();
        assert_eq!(lib.len(), 3);
        assert!(!lib.is_empty());
        assert_eq!(
            lib.ids().collect::<Vec<_>>(),
            ["en/BYE", "it/benvenuto", "it/menu/uno"]
        );
        for id in ["en/BYE", "it/benvenuto", "it/menu/uno"] {
            let p = lib.get(id).unwrap();
            assert_eq!(p.id(), id);
            // 400 samples -> 3 frames, the last with 80 samples and 80 of padding.
            assert_eq!(p.frame_count(), 3);
            assert_eq!(p.duration(), Duration::from_millis(60));
            for codec in [Codec::Pcmu, Codec::Pcma] {
                let frames = p.frames(codec);
                assert_eq!(frames.len(), 3);
                assert!(frames[2][80..].iter().all(|&b| b == g711::silence(codec)));
                // Decoding back lands within G.711 quantisation of the source.
                for (i, &want) in ramp.iter().enumerate() {
                    let got = g711::decode(codec, frames[i / 160][i % 160]);
                    let err = (i32::from(got) - i32::from(want)).abs();
                    assert!(
                        err <= i32::from(want).abs() / 16 + 16,
                        "{id} {codec:?} #{i}"
                    );
                }
            }
        }
        // The natively encoded prompts keep their bytes untouched.
        assert_eq!(
            &lib.get("it/menu/uno").unwrap().frames(Codec::Pcmu)[0][..],
            &ulaw[..160]
        );
        assert_eq!(
            &lib.get("en/BYE").unwrap().frames(Codec::Pcma)[1][..],
            &alaw[160..320]
        );
        assert!(lib.get("it/nope").is_none());
    }

    #[test]
    fn exact_multiple_of_a_frame_has_no_padding_frame() {
        let p = Prompt::from_pcm16("x", &[1000; 320]);
        assert_eq!(p.frame_count(), 2);
        assert_eq!(p.frames(Codec::Pcmu)[1], [g711::encode_ulaw(1000); 160]);
        assert_eq!(p.frames(Codec::Pcma)[0], [g711::encode_alaw(1000); 160]);
    }

    #[test]
    fn wrong_sample_rate_names_file_and_rate() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("it/x.wav");
        write_pcm16(&path, 16000, 1, &[0; 100]);
        assert_eq!(
            load_err(tmp.path()),
            format!("{}: sample rate 16000 Hz, expected 8000", path.display())
        );
    }

    #[test]
    fn each_unsupported_property_is_named() {
        let cases: [(Vec<u8>, &str); 7] = [
            (riff(7, 2, 8000, 8, &[0; 10]), "2 channels, expected mono"),
            (
                riff(1, 1, 8000, 8, &[0; 10]),
                "8 bits per sample, expected 16",
            ),
            (
                riff(6, 1, 8000, 16, &[0; 10]),
                "16 bits per sample, expected 8",
            ),
            (
                riff(3, 1, 8000, 32, &[0; 8]),
                "unsupported encoding IEEE float, expected PCM16, µ-law or A-law",
            ),
            (riff(7, 1, 8000, 8, &[]), "no audio samples"),
            (b"RIFX\0\0\0\0WAVE".to_vec(), "not a RIFF/WAVE file"),
            (riff(7, 1, 8000, 8, &[1])[..36].to_vec(), "no data chunk"),
        ];
        for (bytes, want) in cases {
            let tmp = tempfile::tempdir().unwrap();
            let path = tmp.path().join("p.wav");
            write(&path, &bytes);
            assert_eq!(load_err(tmp.path()), format!("{}: {want}", path.display()));
        }
    }

    #[test]
    fn stereo_pcm_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        write_pcm16(&tmp.path().join("s.wav"), 8000, 2, &[0; 100]);
        assert!(load_err(tmp.path()).ends_with("s.wav: 2 channels, expected mono"));
    }

    #[test]
    fn extensible_ulaw_and_unset_data_size_are_accepted() {
        // WAVE_FORMAT_EXTENSIBLE whose sub-format GUID starts with 7 (µ-law), and a
        // data chunk whose size was left at 0xFFFFFFFF by a streaming writer.
        let mut fmt = Vec::new();
        fmt.extend_from_slice(&0xFFFEu16.to_le_bytes());
        fmt.extend_from_slice(&1u16.to_le_bytes());
        fmt.extend_from_slice(&8000u32.to_le_bytes());
        fmt.extend_from_slice(&8000u32.to_le_bytes());
        fmt.extend_from_slice(&1u16.to_le_bytes());
        fmt.extend_from_slice(&8u16.to_le_bytes());
        fmt.extend_from_slice(&22u16.to_le_bytes());
        fmt.extend_from_slice(&8u16.to_le_bytes());
        fmt.extend_from_slice(&4u32.to_le_bytes());
        fmt.extend_from_slice(&[
            7, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71,
        ]);
        let mut bytes = b"RIFF\xff\xff\xff\xffWAVEfmt ".to_vec();
        bytes.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&fmt);
        bytes.extend_from_slice(b"data\xff\xff\xff\xff");
        bytes.extend_from_slice(&[0x80; 170]);
        let tmp = tempfile::tempdir().unwrap();
        write(&tmp.path().join("ext.wav"), &bytes);
        let lib = PromptLibrary::load(tmp.path()).unwrap();
        let p = lib.get("ext").unwrap();
        assert_eq!(p.frame_count(), 2);
        assert_eq!(p.frames(Codec::Pcmu)[1][9], 0x80);
        assert_eq!(p.frames(Codec::Pcmu)[1][10], 0xFF);
        assert_eq!(p.frames(Codec::Pcma)[0][0], g711::ulaw_to_alaw(0x80));
    }

    #[test]
    fn same_id_with_different_extension_case_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        write_pcm16(&tmp.path().join("a.wav"), 8000, 1, &[0; 10]);
        write_pcm16(&tmp.path().join("a.WAV"), 8000, 1, &[0; 10]);
        let err = load_err(tmp.path());
        assert!(err.contains("prompt id \"a\" is already used"), "{err}");
    }

    #[test]
    fn missing_directory_is_an_io_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("nope");
        let err = PromptLibrary::load(&missing).unwrap_err();
        assert!(matches!(err, PromptError::Io { ref path, .. } if *path == missing));
    }

    #[test]
    fn empty_directory_gives_an_empty_library() {
        let tmp = tempfile::tempdir().unwrap();
        let lib = PromptLibrary::load(tmp.path()).unwrap();
        assert!(lib.is_empty());
        assert_eq!(lib.ids().count(), 0);
    }
}
