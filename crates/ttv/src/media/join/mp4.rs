//! Writing the joined film: an MP4 whose index (`moov`) is built from the inputs' indexes
//! before any media byte is copied, so the film is fast-start and its samples stream from
//! the input files to the output without being held in memory or re-encoded.
//!
//! Memory is the sample tables (a few bytes per sample) plus one copy buffer, whatever the
//! number or length of the segments.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use crate::error::{Error, Result};

/// Where a run of sample bytes comes from.
#[derive(Debug, Clone)]
pub(super) enum Piece {
    /// `len` bytes at `offset` of input file `input`.
    File { input: usize, offset: u64, len: u64 },
    /// `count` copies of a constant frame (silence).
    Repeat { frame: usize, count: u32 },
}

impl Piece {
    fn len(&self, frames: &[Vec<u8>]) -> u64 {
        match self {
            Self::File { len, .. } => *len,
            Self::Repeat { frame, count } => {
                frames.get(*frame).map_or(0, |f| f.len() as u64) * u64::from(*count)
            }
        }
    }
}

/// Samples stored together.
#[derive(Debug, Clone, Default)]
pub(super) struct Chunk {
    pub pieces: Vec<Piece>,
    pub samples: u32,
}

/// What kind of track, with what its sample entry needs.
#[derive(Debug, Clone)]
pub(super) enum Kind {
    /// H.264 with its `avcC` payload.
    Video {
        width: u16,
        height: u16,
        avcc: Vec<u8>,
    },
    /// AAC with its AudioSpecificConfig.
    Audio {
        sample_rate: u32,
        channels: u16,
        asc: [u8; 2],
    },
}

/// One output track.
#[derive(Debug, Clone)]
pub(super) struct TrackOut {
    pub kind: Kind,
    pub timescale: u32,
    pub sizes: Vec<u32>,
    pub durations: Vec<u32>,
    /// 1-based numbers of the sync samples; `None` when every sample is one (audio).
    pub sync: Option<Vec<u32>>,
    pub chunks: Vec<Chunk>,
    /// Media time at which presentation starts (an edit list skips encoder priming).
    pub media_start: u32,
}

impl TrackOut {
    fn duration(&self) -> u64 {
        self.durations.iter().map(|d| u64::from(*d)).sum()
    }

    /// Presentation length in the track's timescale.
    fn presented(&self) -> u64 {
        self.duration().saturating_sub(u64::from(self.media_start))
    }
}

/// The film to write: tracks, the order of their chunks in `mdat`, and the files and
/// constant frames the chunks refer to.
pub(super) struct Film {
    pub tracks: Vec<TrackOut>,
    /// `(track, chunk)` in file order.
    pub layout: Vec<(usize, usize)>,
    pub inputs: Vec<PathBuf>,
    pub frames: Vec<Vec<u8>>,
}

const MOVIE_TIMESCALE: u32 = 1000;

impl Film {
    /// Writes the whole file.
    pub fn write(&self, out: File) -> Result<()> {
        let ftyp = ftyp();
        let payload: u64 = self.layout.iter().map(|&(t, c)| self.chunk_len(t, c)).sum();
        // The box sizes do not depend on the offsets' values, only on their width.
        let small = self.moov(&self.offsets(0), false).len() as u64;
        let large = ftyp.len() as u64 + small + 8 + payload > u64::from(u32::MAX);
        let moov_len = if large {
            self.moov(&self.offsets(0), true).len() as u64
        } else {
            small
        };
        let mdat_header: u64 = if large { 16 } else { 8 };
        let data_start = ftyp.len() as u64 + moov_len + mdat_header;
        let moov = self.moov(&self.offsets(data_start), large);
        debug_assert_eq!(moov.len() as u64, moov_len);

        let mut w = BufWriter::with_capacity(1 << 20, out);
        let io = |e| Error::io("cannot write the film", e);
        w.write_all(&ftyp).map_err(io)?;
        w.write_all(&moov).map_err(io)?;
        if large {
            w.write_all(&1u32.to_be_bytes()).map_err(io)?;
            w.write_all(b"mdat").map_err(io)?;
            w.write_all(&(payload + 16).to_be_bytes()).map_err(io)?;
        } else {
            w.write_all(&((payload + 8) as u32).to_be_bytes())
                .map_err(io)?;
            w.write_all(b"mdat").map_err(io)?;
        }
        let mut open: Option<(usize, File)> = None;
        for &(t, c) in &self.layout {
            for piece in &self.tracks[t].chunks[c].pieces {
                match piece {
                    Piece::File { input, offset, len } => {
                        let file = match &mut open {
                            Some((i, f)) if i == input => f,
                            _ => {
                                let path = &self.inputs[*input];
                                let f = File::open(path).map_err(|e| {
                                    Error::io(format_args!("cannot read {}", path.display()), e)
                                })?;
                                &mut open.insert((*input, f)).1
                            }
                        };
                        file.seek(SeekFrom::Start(*offset)).map_err(io)?;
                        let copied = std::io::copy(&mut file.take(*len), &mut w).map_err(io)?;
                        if copied != *len {
                            return Err(Error::new(
                                crate::error::ErrorKind::InvalidOutput,
                                format!(
                                    "segment {} ends early: its index points past its end",
                                    self.inputs[*input].display()
                                ),
                            ));
                        }
                    }
                    Piece::Repeat { frame, count } => {
                        let bytes = &self.frames[*frame];
                        for _ in 0..*count {
                            w.write_all(bytes).map_err(io)?;
                        }
                    }
                }
            }
        }
        let file = w.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        Ok(())
    }

    fn chunk_len(&self, track: usize, chunk: usize) -> u64 {
        self.tracks[track].chunks[chunk]
            .pieces
            .iter()
            .map(|p| p.len(&self.frames))
            .sum()
    }

    /// Each track's chunk offsets when the media data starts at `start`.
    fn offsets(&self, start: u64) -> Vec<Vec<u64>> {
        let mut offsets: Vec<Vec<u64>> = self
            .tracks
            .iter()
            .map(|t| vec![0; t.chunks.len()])
            .collect();
        let mut at = start;
        for &(t, c) in &self.layout {
            offsets[t][c] = at;
            at += self.chunk_len(t, c);
        }
        offsets
    }

    fn moov(&self, offsets: &[Vec<u64>], large: bool) -> Vec<u8> {
        let movie_duration = self
            .tracks
            .iter()
            .map(|t| to_movie(t.presented(), t.timescale))
            .max()
            .unwrap_or(0);
        let mut body = mvhd(movie_duration, self.tracks.len() as u32 + 1);
        for (i, track) in self.tracks.iter().enumerate() {
            let empty = Vec::new();
            let offsets = offsets.get(i).unwrap_or(&empty);
            body.extend(trak(track, i as u32 + 1, offsets, large));
        }
        boxed(b"moov", &body)
    }
}

fn to_movie(duration: u64, timescale: u32) -> u64 {
    if timescale == 0 {
        0
    } else {
        (duration * u64::from(MOVIE_TIMESCALE) + u64::from(timescale) / 2) / u64::from(timescale)
    }
}

fn boxed(name: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend(((body.len() + 8) as u32).to_be_bytes());
    out.extend(name);
    out.extend(body);
    out
}

fn full(name: &[u8; 4], version: u8, flags: u32, body: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(body.len() + 4);
    b.extend(((u32::from(version) << 24) | (flags & 0x00ff_ffff)).to_be_bytes());
    b.extend(body);
    boxed(name, &b)
}

fn ftyp() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(b"isom");
    b.extend(512u32.to_be_bytes());
    for brand in [b"isom", b"iso2", b"avc1", b"mp41"] {
        b.extend(brand);
    }
    boxed(b"ftyp", &b)
}

const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

fn mvhd(duration: u64, next_track: u32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend([0u8; 16]); // creation and modification times
    b.extend(MOVIE_TIMESCALE.to_be_bytes());
    b.extend(duration.to_be_bytes());
    b.extend(0x0001_0000u32.to_be_bytes()); // rate 1.0
    b.extend(0x0100u16.to_be_bytes()); // volume 1.0
    b.extend([0u8; 10]);
    for m in MATRIX {
        b.extend(m.to_be_bytes());
    }
    b.extend([0u8; 24]);
    b.extend(next_track.to_be_bytes());
    full(b"mvhd", 1, 0, &b)
}

fn trak(track: &TrackOut, id: u32, offsets: &[u64], large: bool) -> Vec<u8> {
    let presented = to_movie(track.presented(), track.timescale);
    let mut body = tkhd(track, id, presented);
    if track.media_start > 0 {
        // One edit: present the media from `media_start` on.
        let mut elst = Vec::new();
        elst.extend(1u32.to_be_bytes());
        elst.extend(presented.to_be_bytes());
        elst.extend(i64::from(track.media_start).to_be_bytes());
        elst.extend(0x0001_0000u32.to_be_bytes());
        body.extend(boxed(b"edts", &full(b"elst", 1, 0, &elst)));
    }
    let mut mdia = mdhd(track);
    let (handler, name): (&[u8; 4], &str) = match track.kind {
        Kind::Video { .. } => (b"vide", "VideoHandler"),
        Kind::Audio { .. } => (b"soun", "SoundHandler"),
    };
    let mut hdlr = vec![0u8; 4];
    hdlr.extend(handler);
    hdlr.extend([0u8; 12]);
    hdlr.extend(name.as_bytes());
    hdlr.push(0);
    mdia.extend(full(b"hdlr", 0, 0, &hdlr));
    let mut minf = match track.kind {
        Kind::Video { .. } => full(b"vmhd", 0, 1, &[0u8; 8]),
        Kind::Audio { .. } => full(b"smhd", 0, 0, &[0u8; 4]),
    };
    let mut dref = 1u32.to_be_bytes().to_vec();
    dref.extend(full(b"url ", 0, 1, &[]));
    minf.extend(boxed(b"dinf", &full(b"dref", 0, 0, &dref)));
    minf.extend(stbl(track, offsets, large));
    mdia.extend(boxed(b"minf", &minf));
    body.extend(boxed(b"mdia", &mdia));
    boxed(b"trak", &body)
}

fn tkhd(track: &TrackOut, id: u32, duration: u64) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(0u64.to_be_bytes());
    b.extend(0u64.to_be_bytes());
    b.extend(id.to_be_bytes());
    b.extend(0u32.to_be_bytes());
    b.extend(duration.to_be_bytes());
    b.extend([0u8; 8]);
    b.extend(0u16.to_be_bytes()); // layer
    let (group, volume, w, h) = match &track.kind {
        Kind::Video { width, height, .. } => (0u16, 0u16, *width, *height),
        Kind::Audio { .. } => (1, 0x0100, 0, 0),
    };
    b.extend(group.to_be_bytes());
    b.extend(volume.to_be_bytes());
    b.extend(0u16.to_be_bytes());
    for m in MATRIX {
        b.extend(m.to_be_bytes());
    }
    b.extend((u32::from(w) << 16).to_be_bytes());
    b.extend((u32::from(h) << 16).to_be_bytes());
    // Enabled, in movie, in preview.
    full(b"tkhd", 1, 3, &b)
}

fn mdhd(track: &TrackOut) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(0u64.to_be_bytes());
    b.extend(0u64.to_be_bytes());
    b.extend(track.timescale.to_be_bytes());
    b.extend(track.duration().to_be_bytes());
    b.extend(0x55c4u16.to_be_bytes()); // "und"
    b.extend(0u16.to_be_bytes());
    full(b"mdhd", 1, 0, &b)
}

fn stbl(track: &TrackOut, offsets: &[u64], large: bool) -> Vec<u8> {
    let mut out = stsd(track);
    // stts: runs of equal durations.
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &d in &track.durations {
        match runs.last_mut() {
            Some((n, last)) if *last == d => *n += 1,
            _ => runs.push((1, d)),
        }
    }
    let mut stts = (runs.len() as u32).to_be_bytes().to_vec();
    for (n, d) in runs {
        stts.extend(n.to_be_bytes());
        stts.extend(d.to_be_bytes());
    }
    out.extend(full(b"stts", 0, 0, &stts));
    if let Some(sync) = &track.sync {
        let mut stss = (sync.len() as u32).to_be_bytes().to_vec();
        for s in sync {
            stss.extend(s.to_be_bytes());
        }
        out.extend(full(b"stss", 0, 0, &stss));
    }
    // stsc: runs of chunks with the same sample count.
    let mut stsc_runs: Vec<(u32, u32)> = Vec::new();
    for (i, chunk) in track.chunks.iter().enumerate() {
        if stsc_runs.last().is_none_or(|(_, n)| *n != chunk.samples) {
            stsc_runs.push((i as u32 + 1, chunk.samples));
        }
    }
    let mut stsc = (stsc_runs.len() as u32).to_be_bytes().to_vec();
    for (first, n) in stsc_runs {
        stsc.extend(first.to_be_bytes());
        stsc.extend(n.to_be_bytes());
        stsc.extend(1u32.to_be_bytes());
    }
    out.extend(full(b"stsc", 0, 0, &stsc));
    let mut stsz = 0u32.to_be_bytes().to_vec();
    stsz.extend((track.sizes.len() as u32).to_be_bytes());
    for s in &track.sizes {
        stsz.extend(s.to_be_bytes());
    }
    out.extend(full(b"stsz", 0, 0, &stsz));
    let mut co = (track.chunks.len() as u32).to_be_bytes().to_vec();
    for i in 0..track.chunks.len() {
        let at = offsets.get(i).copied().unwrap_or(0);
        if large {
            co.extend(at.to_be_bytes());
        } else {
            co.extend((at as u32).to_be_bytes());
        }
    }
    out.extend(if large {
        full(b"co64", 0, 0, &co)
    } else {
        full(b"stco", 0, 0, &co)
    });
    boxed(b"stbl", &out)
}

fn stsd(track: &TrackOut) -> Vec<u8> {
    let entry = match &track.kind {
        Kind::Video {
            width,
            height,
            avcc,
        } => {
            let mut b = vec![0u8; 6];
            b.extend(1u16.to_be_bytes()); // data reference index
            b.extend([0u8; 16]);
            b.extend(width.to_be_bytes());
            b.extend(height.to_be_bytes());
            b.extend(0x0048_0000u32.to_be_bytes());
            b.extend(0x0048_0000u32.to_be_bytes());
            b.extend(0u32.to_be_bytes());
            b.extend(1u16.to_be_bytes()); // frame count
            b.extend([0u8; 32]); // compressor name
            b.extend(0x0018u16.to_be_bytes());
            b.extend((-1i16).to_be_bytes());
            b.extend(boxed(b"avcC", avcc));
            boxed(b"avc1", &b)
        }
        Kind::Audio {
            sample_rate,
            channels,
            asc,
        } => {
            let mut b = vec![0u8; 6];
            b.extend(1u16.to_be_bytes());
            b.extend([0u8; 8]);
            b.extend(channels.to_be_bytes());
            b.extend(16u16.to_be_bytes());
            b.extend([0u8; 4]);
            b.extend(((*sample_rate).min(0xffff) << 16).to_be_bytes());
            b.extend(esds(asc));
            boxed(b"mp4a", &b)
        }
    };
    let mut b = 1u32.to_be_bytes().to_vec();
    b.extend(entry);
    full(b"stsd", 0, 0, &b)
}

fn descriptor(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag, body.len() as u8];
    out.extend(body);
    out
}

fn esds(asc: &[u8; 2]) -> Vec<u8> {
    let specific = descriptor(5, asc);
    let mut config = vec![0x40, 0x15]; // MPEG-4 audio; audio stream
    config.extend([0u8; 3]); // buffer size
    config.extend(0u32.to_be_bytes()); // max bit rate
    config.extend(0u32.to_be_bytes()); // average bit rate
    config.extend(specific);
    let mut es = vec![0, 0, 0]; // ES_ID 0, no flags
    es.extend(descriptor(4, &config));
    es.extend(descriptor(6, &[2]));
    full(b"esds", 0, 0, &descriptor(3, &es))
}
