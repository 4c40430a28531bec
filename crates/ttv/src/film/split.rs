//! The deterministic plan: a long prompt cut into segments with no model and no key.
//!
//! The prompt is read as units — its lines when it has several, else its sentences. The first
//! unit sets the scene (style, characters) and is carried into every segment as the
//! storyboard's `style`; the rest are story beats, grouped in order into
//! `round(total / segment)` segments (at least one) of `segment` seconds each — one segment
//! per beat when no total is given. The same input always gives the same plan.

use super::storyboard::{MAX_SEGMENTS, Segment, Storyboard};

/// Cuts `prompt` into a storyboard of segments of `segment_secs` filling about `total_secs`
/// (one segment per beat when `None`).
pub fn split(prompt: &str, total_secs: Option<f64>, segment_secs: f64) -> Storyboard {
    let mut units = units(prompt);
    let style = if units.len() > 1 {
        Some(units.remove(0))
    } else {
        None
    };
    let beats = units;
    let count = match total_secs {
        Some(total) => segment_count(total, segment_secs),
        None => beats.len().clamp(1, MAX_SEGMENTS),
    };
    let segments = (0..count)
        .map(|i| {
            let prompt = if beats.is_empty() {
                String::new()
            } else if beats.len() >= count {
                // Beats [i*n/count, (i+1)*n/count): every beat once, in order, spread evenly.
                let (from, to) = (i * beats.len() / count, (i + 1) * beats.len() / count);
                beats[from..to].join(" ")
            } else {
                // Fewer beats than segments: each beat holds for several segments.
                beats[i * beats.len() / count].clone()
            };
            Segment {
                prompt,
                duration: Some(segment_secs),
                ..Segment::default()
            }
        })
        .collect();
    Storyboard {
        title: title_of(style.as_deref().or(beats.first().map(String::as_str))),
        style,
        segments,
        logic: Some(format!(
            "deterministic split: {count} segments of {segment_secs} s; the first \
             line or sentence is the style carried into every segment, the rest are beats in order"
        )),
        ..Storyboard::default()
    }
}

/// `round(total / segment)`, at least one and at most [`MAX_SEGMENTS`].
pub fn segment_count(total_secs: f64, segment_secs: f64) -> usize {
    if !(total_secs.is_finite() && segment_secs.is_finite() && segment_secs > 0.0) {
        return 1;
    }
    ((total_secs / segment_secs).round() as usize).clamp(1, MAX_SEGMENTS)
}

/// The lines of `prompt` when it has several, else its sentences; trimmed, none empty.
fn units(prompt: &str) -> Vec<String> {
    let lines: Vec<String> = prompt
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect();
    if lines.len() > 1 {
        return lines;
    }
    let text = lines.into_iter().next().unwrap_or_default();
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        current.push(c);
        let ends = matches!(c, '.' | '!' | '?') && chars.peek().is_none_or(|n| n.is_whitespace());
        if ends {
            let sentence = current.trim().to_owned();
            if !sentence.is_empty() {
                out.push(sentence);
            }
            current.clear();
        }
    }
    let rest = current.trim();
    if !rest.is_empty() {
        out.push(rest.to_owned());
    }
    out
}

/// A short title: the first few words of `text`.
fn title_of(text: Option<&str>) -> Option<String> {
    let words: Vec<&str> = text?.split_whitespace().take(8).collect();
    (!words.is_empty()).then(|| {
        words
            .join(" ")
            .trim_end_matches([',', '.', ';', ':'])
            .to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str =
        "Animated short in 1940s cel-animation style, Milo the cat and Pip the mouse.
The scene begins in a classroom.
Milo writes on the chalkboard.
Pip wheels in a big round cheese.
A chase ensues.
Milo slips on a slice.
They high-five.";

    #[test]
    fn lines_become_beats_grouped_into_the_segment_count() {
        let board = split(SAMPLE, Some(30.0), 10.0);
        assert_eq!(board.segments.len(), 3);
        assert!(
            board
                .style
                .as_deref()
                .unwrap()
                .starts_with("Animated short")
        );
        let prompts: Vec<_> = board.segments.iter().map(|s| s.prompt.as_str()).collect();
        assert_eq!(
            prompts,
            [
                "The scene begins in a classroom. Milo writes on the chalkboard.",
                "Pip wheels in a big round cheese. A chase ensues.",
                "Milo slips on a slice. They high-five."
            ]
        );
        assert!(board.segments.iter().all(|s| s.duration == Some(10.0)));
        assert!(board.prompt_of(2).starts_with("Animated short"));
        board.check().unwrap();
    }

    #[test]
    fn sentences_split_a_one_line_prompt_and_beats_hold_when_few() {
        let board = split(
            "A foggy harbour at dawn. A ferry leaves. Gulls follow it!",
            Some(20.0),
            5.0,
        );
        assert_eq!(board.style.as_deref(), Some("A foggy harbour at dawn."));
        let prompts: Vec<_> = board.segments.iter().map(|s| s.prompt.as_str()).collect();
        assert_eq!(
            prompts,
            [
                "A ferry leaves.",
                "A ferry leaves.",
                "Gulls follow it!",
                "Gulls follow it!"
            ]
        );
    }

    #[test]
    fn the_same_input_gives_the_same_plan() {
        assert_eq!(
            split(SAMPLE, Some(60.0), 5.0),
            split(SAMPLE, Some(60.0), 5.0)
        );
        assert_eq!(split(SAMPLE, Some(60.0), 5.0).segments.len(), 12);
        assert_eq!(segment_count(1.0, 5.0), 1);
        assert_eq!(split(SAMPLE, None, 5.0).segments.len(), 6, "one per beat");
        assert_eq!(segment_count(f64::NAN, 5.0), 1);
    }

    #[test]
    fn a_single_sentence_is_every_segment() {
        let board = split("a paper boat on a rainy street", Some(10.0), 5.0);
        assert_eq!(board.style, None);
        assert_eq!(board.segments.len(), 2);
        assert_eq!(board.prompt_of(1), "a paper boat on a rainy street");
    }
}
