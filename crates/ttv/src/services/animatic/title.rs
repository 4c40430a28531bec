//! The text-only scene: a designed title card.
//!
//! The prompt is set in Inter Display (SIL Open Font License, embedded) over a slowly moving
//! background of soft colour fields. The palette comes from the prompt's words when they name
//! a mood ("ocean", "sunset", "forest") and otherwise from a hash of the prompt and seed, so the
//! same request always renders the same card. The background is rendered at one eighth of the
//! frame size and scaled up, which keeps it smooth and cheap.

use ab_glyph::{Font, FontRef, GlyphId, PxScale, ScaleFont, point};
use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind, Result};
use crate::media::image::{CropRect, FrameResizer};
use crate::request::Resolution;

use super::camera::smoothstep;

static FONT_BYTES: &[u8] = include_bytes!("../../../assets/fonts/InterDisplay-SemiBold.otf");

type Rgb = [f32; 3];

/// Colours of one card.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Palette {
    /// Top of the background.
    pub top: Rgb,
    /// Bottom of the background.
    pub bottom: Rgb,
    /// The moving colour fields.
    pub fields: [Rgb; 3],
    /// The title text.
    pub text: Rgb,
    /// The rule above the title.
    pub accent: Rgb,
}

/// Hues (degrees) suggested by words in the prompt.
const MOODS: &[(&str, f32)] = &[
    ("sunset", 22.0),
    ("fire", 12.0),
    ("flame", 12.0),
    ("desert", 35.0),
    ("autumn", 28.0),
    ("gold", 45.0),
    ("sun", 42.0),
    ("forest", 130.0),
    ("jungle", 120.0),
    ("grass", 105.0),
    ("spring", 95.0),
    ("ocean", 200.0),
    ("sea", 198.0),
    ("water", 195.0),
    ("river", 190.0),
    ("rain", 210.0),
    ("ice", 190.0),
    ("snow", 205.0),
    ("sky", 208.0),
    ("night", 240.0),
    ("space", 255.0),
    ("galaxy", 270.0),
    ("dream", 285.0),
    ("neon", 300.0),
    ("rose", 335.0),
    ("love", 345.0),
    ("blood", 355.0),
];

impl Palette {
    /// The palette for a prompt and seed.
    pub fn derive(prompt: &str, seed: u64) -> Self {
        let digest = Sha256::new()
            .chain_update(prompt.as_bytes())
            .chain_update(seed.to_le_bytes())
            .finalize();
        let byte = |i: usize| f32::from(digest[i]) / 255.0;
        let lower = prompt.to_lowercase();
        let mood = MOODS
            .iter()
            .filter_map(|(w, hue)| find_word(&lower, w).map(|at| (at, *hue)))
            .min_by_key(|(at, _)| *at)
            .map(|(_, hue)| hue);
        // A mood keeps its hue with a little seed-dependent variation; otherwise the hash picks.
        let hue = match mood {
            Some(h) => h + (byte(0) - 0.5) * 24.0,
            None => byte(0) * 360.0,
        };
        let spread = 25.0 + byte(1) * 35.0;
        let sat = 0.45 + byte(2) * 0.3;
        Self {
            top: hsl(hue, sat, 0.10),
            bottom: hsl(hue + spread * 0.5, sat, 0.20),
            fields: [
                hsl(hue + spread, sat + 0.1, 0.42),
                hsl(hue - spread, sat, 0.34),
                hsl(hue + 180.0 + (byte(3) - 0.5) * 60.0, sat, 0.38),
            ],
            text: hsl(hue, 0.25, 0.96),
            accent: hsl(hue + 180.0 + (byte(3) - 0.5) * 60.0, 0.75, 0.62),
        }
    }
}

fn find_word(haystack: &str, word: &str) -> Option<usize> {
    haystack.match_indices(word).map(|(at, _)| at).find(|&at| {
        let before = haystack[..at].chars().next_back();
        let rest = &haystack[at + word.len()..];
        // Allow a plural `s`, but not a longer word ("seas" yes, "seaside" no).
        let rest = rest.strip_prefix('s').unwrap_or(rest);
        let after = rest.chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

fn hsl(h: f32, s: f32, l: f32) -> Rgb {
    let h = h.rem_euclid(360.0) / 60.0;
    let s = s.clamp(0.0, 1.0);
    let c = (1.0 - (2.0 * l - 1.0).abs()) * s;
    let x = c * (1.0 - (h % 2.0 - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = l - c / 2.0;
    [(r + m) * 255.0, (g + m) * 255.0, (b + m) * 255.0]
}

/// A coverage mask (0–255) with its placement in the frame.
struct Mask {
    x: i32,
    y: i32,
    w: usize,
    h: usize,
    cover: Vec<u8>,
}

impl Mask {
    fn blurred(&self, radius: usize) -> Mask {
        let pad = radius * 2;
        let (w, h) = (self.w + pad * 2, self.h + pad * 2);
        let mut buf = vec![0u16; w * h];
        for row in 0..self.h {
            for col in 0..self.w {
                buf[(row + pad) * w + col + pad] = u16::from(self.cover[row * self.w + col]);
            }
        }
        for _ in 0..2 {
            box_blur(&mut buf, w, h, radius);
        }
        Mask {
            x: self.x - pad as i32,
            y: self.y - pad as i32,
            w,
            h,
            cover: buf.into_iter().map(|v| v.min(255) as u8).collect(),
        }
    }
}

/// Two-pass box blur in place.
fn box_blur(buf: &mut [u16], w: usize, h: usize, r: usize) {
    let mut line = vec![0u16; w.max(h)];
    let div = (2 * r + 1) as u32;
    for row in 0..h {
        let src = &buf[row * w..row * w + w];
        let mut acc: u32 = 0;
        for v in &src[..=r.min(w - 1)] {
            acc += u32::from(*v);
        }
        for col in 0..w {
            line[col] = (acc / div) as u16;
            if col + r + 1 < w {
                acc += u32::from(src[col + r + 1]);
            }
            if col >= r {
                acc -= u32::from(src[col - r]);
            }
        }
        buf[row * w..row * w + w].copy_from_slice(&line[..w]);
    }
    for col in 0..w {
        let mut acc: u32 = 0;
        for i in 0..=r.min(h - 1) {
            acc += u32::from(buf[i * w + col]);
        }
        for row in 0..h {
            line[row] = (acc / div) as u16;
            if row + r + 1 < h {
                acc += u32::from(buf[(row + r + 1) * w + col]);
            }
            if row >= r {
                acc -= u32::from(buf[(row - r) * w + col]);
            }
        }
        for row in 0..h {
            buf[row * w + col] = line[row];
        }
    }
}

struct Line {
    glyphs: Vec<(GlyphId, f32)>,
    width: f32,
}

fn layout(font: &impl Font, text: &str, px: f32, max_width: f32) -> Vec<Line> {
    let scaled = font.as_scaled(PxScale::from(px));
    let space = scaled.h_advance(scaled.glyph_id(' '));
    let word_width = |w: &str| {
        let mut x = 0.0;
        let mut prev = None;
        for c in w.chars() {
            let id = scaled.glyph_id(c);
            if let Some(p) = prev {
                x += scaled.kern(p, id);
            }
            x += scaled.h_advance(id);
            prev = Some(id);
        }
        x
    };
    let mut lines: Vec<Line> = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut width = 0.0;
    let mut push_line = |words: &[&str]| {
        let mut glyphs = Vec::new();
        let mut x = 0.0;
        let mut prev: Option<GlyphId> = None;
        for c in words.join(" ").chars() {
            let id = scaled.glyph_id(c);
            if let Some(p) = prev {
                x += scaled.kern(p, id);
            }
            glyphs.push((id, x));
            x += scaled.h_advance(id);
            prev = Some(id);
        }
        lines.push(Line { glyphs, width: x });
    };
    for word in text.split_whitespace() {
        let ww = word_width(word);
        let next = if current.is_empty() {
            ww
        } else {
            width + space + ww
        };
        if next > max_width && !current.is_empty() {
            push_line(&current);
            current.clear();
            width = ww;
        } else {
            width = next;
        }
        current.push(word);
    }
    if !current.is_empty() {
        push_line(&current);
    }
    lines
}

/// A prepared title card: masks rendered once, backgrounds per frame.
pub(crate) struct TitleCard {
    size: Resolution,
    palette: Palette,
    phases: [f32; 6],
    title: Mask,
    shadow: Mask,
    label: Mask,
    rule: (i32, i32, i32),
    drift: f32,
    small: (u32, u32),
    small_rgb: Vec<u8>,
    resizer: FrameResizer,
}

impl TitleCard {
    /// Lays out `prompt` for a frame of `size`.
    pub fn new(prompt: &str, seed: u64, size: Resolution) -> Result<Self> {
        let font = FontRef::try_from_slice(FONT_BYTES).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("the embedded font is unreadable: {e}"),
            )
        })?;
        let (w, h) = (size.width as f32, size.height as f32);
        let text = prompt.split_whitespace().collect::<Vec<_>>().join(" ");
        let max_width = w * 0.8;
        let max_lines = 6;
        let min_px = (h * 0.035).max(10.0);
        let mut px = (h * 0.10).min(w * 0.075);
        let mut lines = layout(&font, &text, px, max_width);
        while px > min_px && (lines.len() > max_lines || lines.len() as f32 * px * 1.2 > h * 0.55) {
            px = (px * 0.92).max(min_px);
            lines = layout(&font, &text, px, max_width);
        }
        if lines.len() > max_lines {
            lines.truncate(max_lines);
            let ellipsis = font.as_scaled(PxScale::from(px));
            if let Some(last) = lines.last_mut() {
                let id = ellipsis.glyph_id('…');
                while last.width + ellipsis.h_advance(id) > max_width && last.glyphs.len() > 1 {
                    last.glyphs.pop();
                    last.width = last
                        .glyphs
                        .last()
                        .map_or(0.0, |g| g.1 + ellipsis.h_advance(g.0));
                }
                last.glyphs.push((id, last.width));
                last.width += ellipsis.h_advance(id);
            }
        }
        let line_height = px * 1.2;
        let block_h = line_height * lines.len() as f32;
        let top = (h - block_h) / 2.0;
        let title = draw_lines(&font, &lines, px, line_height, top, size, Align::Center)?;
        let shadow = title.blurred(((px * 0.06) as usize).max(1));

        let label_px = (h * 0.024).max(9.0);
        let label_text = format!("ANIMATIC  \u{00b7}  SEED {seed}");
        let label_lines = layout(&font, &label_text, label_px, w);
        let label = draw_lines(
            &font,
            &label_lines,
            label_px,
            label_px * 1.2,
            h - label_px * 2.6,
            size,
            Align::Left(w * 0.05),
        )?;

        let rule_y = (top - px * 0.55).max(2.0) as i32;
        let rule_h = ((px * 0.06) as i32).max(2);
        let digest = Sha256::new()
            .chain_update(b"phases")
            .chain_update(prompt.as_bytes())
            .chain_update(seed.to_le_bytes())
            .finalize();
        let mut phases = [0f32; 6];
        for (i, p) in phases.iter_mut().enumerate() {
            *p = f32::from(digest[i]) / 255.0 * std::f32::consts::TAU;
        }
        let small = (
            size.width.div_ceil(8).max(2),
            size.height.div_ceil(8).max(2),
        );
        Ok(Self {
            size,
            palette: Palette::derive(prompt, seed),
            phases,
            title,
            shadow,
            label,
            rule: (rule_y, rule_h, (w * 0.12) as i32),
            drift: px * 0.35,
            small,
            small_rgb: vec![0; small.0 as usize * small.1 as usize * 3],
            resizer: FrameResizer::default(),
        })
    }

    /// Draws frame `i` at `fps` into `out` (tightly packed RGB of the card's size).
    pub fn render(&mut self, i: u32, fps: u32, out: &mut [u8]) -> Result<()> {
        let secs = i as f32 / fps.max(1) as f32;
        self.background(secs);
        let (sw, sh) = self.small;
        // Scale the half-pixel-inset small frame so its edge pixels are not smeared.
        let crop = CropRect {
            x: 0.5,
            y: 0.5,
            w: f64::from(sw) - 1.0,
            h: f64::from(sh) - 1.0,
        };
        self.resizer.resize_rgb(
            &self.small_rgb,
            (sw, sh),
            crop,
            out,
            (self.size.width, self.size.height),
        )?;
        let appear = smoothstep(f64::from(secs / 0.9)) as f32;
        let dy = ((1.0 - appear) * self.drift).round() as i32;
        composite(
            out,
            self.size,
            &self.shadow,
            0,
            dy + (self.drift * 0.15) as i32,
            [0.0; 3],
            0.5 * appear,
        );
        composite(
            out,
            self.size,
            &self.title,
            0,
            dy,
            self.palette.text,
            appear,
        );
        composite(
            out,
            self.size,
            &self.label,
            0,
            0,
            self.palette.text,
            0.55 * appear,
        );
        let grow = smoothstep(f64::from((secs - 0.2) / 1.2)) as f32;
        let (ry, rh, rw) = self.rule;
        let half = ((rw as f32 * grow) / 2.0) as i32;
        let cx = self.size.width as i32 / 2;
        fill_rect(
            out,
            self.size,
            cx - half,
            ry + dy,
            half * 2,
            rh,
            self.palette.accent,
            appear,
        );
        Ok(())
    }

    fn background(&mut self, secs: f32) {
        let (sw, sh) = (self.small.0 as usize, self.small.1 as usize);
        let p = &self.palette;
        let ph = &self.phases;
        let aspect = sw as f32 / sh as f32;
        let speed = 0.12;
        let centres: [(f32, f32, f32); 3] = [
            (
                0.5 + 0.35 * (secs * speed * 2.1 + ph[0]).sin(),
                0.5 + 0.3 * (secs * speed * 1.7 + ph[1]).cos(),
                0.55,
            ),
            (
                0.5 + 0.4 * (secs * speed * 1.3 + ph[2]).cos(),
                0.5 + 0.35 * (secs * speed * 2.3 + ph[3]).sin(),
                0.45,
            ),
            (
                0.5 + 0.3 * (secs * speed * 1.9 + ph[4]).sin(),
                0.5 + 0.4 * (secs * speed * 1.1 + ph[5]).cos(),
                0.35,
            ),
        ];
        for y in 0..sh {
            let v = y as f32 / (sh - 1).max(1) as f32;
            let base: Rgb = std::array::from_fn(|c| p.top[c] + (p.bottom[c] - p.top[c]) * v);
            for x in 0..sw {
                let u = x as f32 / (sw - 1).max(1) as f32;
                let mut col = base;
                for (field, &(cx, cy, r)) in p.fields.iter().zip(&centres) {
                    let dx = (u - cx) * aspect;
                    let dy = v - cy;
                    let weight = 0.6 * (-(dx * dx + dy * dy) / (r * r)).exp();
                    for (c, f) in col.iter_mut().zip(field) {
                        *c += (f - *c) * weight;
                    }
                }
                let vx = (u - 0.5) * 2.0;
                let vy = (v - 0.5) * 2.0;
                let vignette = 1.0 - 0.28 * (vx * vx + vy * vy);
                let o = (y * sw + x) * 3;
                for (dst, c) in self.small_rgb[o..o + 3].iter_mut().zip(col) {
                    *dst = (c * vignette).clamp(0.0, 255.0) as u8;
                }
            }
        }
    }
}

enum Align {
    Center,
    Left(f32),
}

fn draw_lines(
    font: &FontRef<'_>,
    lines: &[Line],
    px: f32,
    line_height: f32,
    top: f32,
    size: Resolution,
    align: Align,
) -> Result<Mask> {
    let (fw, fh) = (size.width as usize, size.height as usize);
    let mut cover = vec![0u8; fw * fh];
    let scale = PxScale::from(px);
    let ascent = font.as_scaled(scale).ascent();
    let (mut x0, mut y0, mut x1, mut y1) = (fw, fh, 0usize, 0usize);
    for (n, line) in lines.iter().enumerate() {
        let left = match align {
            Align::Center => (size.width as f32 - line.width) / 2.0,
            Align::Left(x) => x,
        };
        let baseline = top + line_height * n as f32 + ascent + (line_height - px) / 2.0;
        for &(id, gx) in &line.glyphs {
            let glyph = id.with_scale_and_position(scale, point(left + gx, baseline));
            let Some(outlined) = font.outline_glyph(glyph) else {
                continue;
            };
            let bounds = outlined.px_bounds();
            outlined.draw(|gx, gy, c| {
                let x = bounds.min.x as i64 + i64::from(gx);
                let y = bounds.min.y as i64 + i64::from(gy);
                if x < 0 || y < 0 || x >= fw as i64 || y >= fh as i64 {
                    return;
                }
                let (x, y) = (x as usize, y as usize);
                let cell = &mut cover[y * fw + x];
                *cell = cell.saturating_add((c.clamp(0.0, 1.0) * 255.0) as u8);
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x + 1);
                y1 = y1.max(y + 1);
            });
        }
    }
    if x1 <= x0 || y1 <= y0 {
        return Ok(Mask {
            x: 0,
            y: 0,
            w: 0,
            h: 0,
            cover: Vec::new(),
        });
    }
    let (w, h) = (x1 - x0, y1 - y0);
    let mut tight = vec![0u8; w * h];
    for row in 0..h {
        tight[row * w..row * w + w]
            .copy_from_slice(&cover[(y0 + row) * fw + x0..(y0 + row) * fw + x1]);
    }
    Ok(Mask {
        x: x0 as i32,
        y: y0 as i32,
        w,
        h,
        cover: tight,
    })
}

/// Blends `color` into `out` through `mask` shifted by (`dx`, `dy`), at `opacity`.
fn composite(
    out: &mut [u8],
    size: Resolution,
    mask: &Mask,
    dx: i32,
    dy: i32,
    color: Rgb,
    opacity: f32,
) {
    if opacity <= 0.0 || mask.w == 0 {
        return;
    }
    let alpha_scale = (opacity.clamp(0.0, 1.0) * 256.0) as u32;
    let color = color.map(|c| c.clamp(0.0, 255.0) as u32);
    let (fw, fh) = (size.width as i32, size.height as i32);
    for row in 0..mask.h as i32 {
        let y = mask.y + dy + row;
        if y < 0 || y >= fh {
            continue;
        }
        for col in 0..mask.w as i32 {
            let x = mask.x + dx + col;
            if x < 0 || x >= fw {
                continue;
            }
            let a =
                (u32::from(mask.cover[(row as usize) * mask.w + col as usize]) * alpha_scale) >> 8;
            if a == 0 {
                continue;
            }
            let o = ((y * fw + x) * 3) as usize;
            for c in 0..3 {
                let base = u32::from(out[o + c]);
                out[o + c] = ((base * (255 - a) + color[c] * a) / 255) as u8;
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn fill_rect(
    out: &mut [u8],
    size: Resolution,
    x: i32,
    y: i32,
    w: i32,
    h: i32,
    color: Rgb,
    opacity: f32,
) {
    if w <= 0 || h <= 0 || opacity <= 0.0 {
        return;
    }
    let a = (opacity.clamp(0.0, 1.0) * 255.0) as u32;
    let color = color.map(|c| c.clamp(0.0, 255.0) as u32);
    let (fw, fh) = (size.width as i32, size.height as i32);
    for yy in y.max(0)..(y + h).min(fh) {
        for xx in x.max(0)..(x + w).min(fw) {
            let o = ((yy * fw + xx) * 3) as usize;
            for c in 0..3 {
                let base = u32::from(out[o + c]);
                out[o + c] = ((base * (255 - a) + color[c] * a) / 255) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mood_words_steer_the_palette() {
        let ocean = Palette::derive("waves on the ocean at dawn", 1);
        // Blue dominates the background fields of an ocean card.
        assert!(ocean.fields[0][2] > ocean.fields[0][0], "{ocean:?}");
        let fire = Palette::derive("a fire in the hearth", 1);
        assert!(fire.fields[1][0] > fire.fields[1][2], "{fire:?}");
    }

    #[test]
    fn palette_is_deterministic_and_seed_dependent() {
        assert_eq!(Palette::derive("a cat", 7), Palette::derive("a cat", 7));
        assert_ne!(Palette::derive("a cat", 7), Palette::derive("a cat", 8));
    }

    #[test]
    fn mood_words_match_whole_words_only() {
        assert_eq!(find_word("seaside sun", "sea"), None);
        assert_eq!(find_word("the seas", "sea"), Some(4));
        assert_eq!(find_word("sunset", "sun"), None);
    }

    #[test]
    fn long_prompts_wrap_inside_the_frame() {
        let size = Resolution::new(640, 360);
        let mut card = TitleCard::new(&"word ".repeat(200), 3, size).unwrap();
        assert!(card.title.w as u32 <= size.width);
        assert!(card.title.x >= 0 && card.title.y >= 0);
        let mut frame = vec![0u8; 640 * 360 * 3];
        card.render(30, 24, &mut frame).unwrap();
        // The wrapped title is drawn inside its box (many full-strength text pixels there),
        // and the corners are background.
        let bright = |x: usize, y: usize| frame[(y * 640 + x) * 3] > 200;
        let (left, right) = (card.title.x as usize, card.title.x as usize + card.title.w);
        let (top, bottom) = (card.title.y as usize, card.title.y as usize + card.title.h);
        let inside = (top..bottom)
            .flat_map(|y| (left..right).map(move |x| (x, y)))
            .filter(|&(x, y)| bright(x, y))
            .count();
        assert!(inside > 500, "{inside} text pixels");
        for (x, y) in [(0, 0), (639, 0), (0, 359), (639, 359)] {
            assert!(!bright(x, y), "corner {x},{y}");
        }
    }

    #[test]
    fn the_centre_row_of_a_title_card_crosses_each_letter_stroke() {
        let size = Resolution::new(640, 360);
        let mut card = TitleCard::new("III", 3, size).unwrap();
        let mut frame = vec![0u8; 640 * 360 * 3];
        card.render(30, 24, &mut frame).unwrap();
        let row = (card.title.y + card.title.h as i32 / 2) as usize;
        let line: Vec<bool> = (0..640).map(|x| frame[(row * 640 + x) * 3] > 200).collect();
        // Three capital I's: exactly three runs of text pixels, each a stroke a few pixels wide.
        let runs: Vec<(usize, usize)> = line
            .iter()
            .enumerate()
            .filter(|&(x, &b)| b && (x == 0 || !line[x - 1]))
            .map(|(x, _)| (x, line[x..].iter().take_while(|&&b| b).count()))
            .collect();
        assert_eq!(runs.len(), 3, "{runs:?}");
        assert!(runs.iter().all(|&(_, w)| (2..=12).contains(&w)), "{runs:?}");
        // Centred: as far from the left edge as from the right.
        let (first, last) = (runs[0].0, runs[2].0 + runs[2].1);
        assert!(first.abs_diff(640 - last) <= 2, "{first}..{last}");
    }
}
