//! Camera moves over a still image: which part of the source each frame shows.
//!
//! A move is a path of crop rectangles over the source, eased so it starts and lands softly.
//! Moves are chosen by name (`--extra camera=pan_left`) or from the prompt's words
//! ("slow zoom out", "[Pan left]").

use std::fmt;
use std::str::FromStr;

use crate::media::image::CropRect;

/// A camera move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CameraMove {
    /// Slowly closer to the centre (the classic Ken Burns move).
    ZoomIn,
    /// Slowly away from the centre, ending on the whole frame.
    ZoomOut,
    /// The camera turns left: the view slides towards the left of the image.
    PanLeft,
    /// The camera turns right.
    PanRight,
    /// The camera tilts up.
    TiltUp,
    /// The camera tilts down.
    TiltDown,
    /// A stronger, accelerating move in towards the upper third, where subjects usually are.
    PushIn,
    /// A slow arc around the subject, faked as a curved drift with a breathing zoom.
    Orbit,
    /// A locked-off shot.
    Static,
}

impl CameraMove {
    /// Every move, in the order they are listed to users.
    pub const ALL: [CameraMove; 9] = [
        Self::ZoomIn,
        Self::ZoomOut,
        Self::PanLeft,
        Self::PanRight,
        Self::TiltUp,
        Self::TiltDown,
        Self::PushIn,
        Self::Orbit,
        Self::Static,
    ];

    /// The option name (`zoom_in`).
    pub fn name(self) -> &'static str {
        match self {
            Self::ZoomIn => "zoom_in",
            Self::ZoomOut => "zoom_out",
            Self::PanLeft => "pan_left",
            Self::PanRight => "pan_right",
            Self::TiltUp => "tilt_up",
            Self::TiltDown => "tilt_down",
            Self::PushIn => "push_in",
            Self::Orbit => "orbit",
            Self::Static => "static",
        }
    }

    /// The move a prompt asks for, if its words name one. The earliest mention wins.
    pub fn from_prompt(prompt: &str) -> Option<Self> {
        const WORDS: &[(&str, CameraMove)] = &[
            ("zoom in", CameraMove::ZoomIn),
            ("zooms in", CameraMove::ZoomIn),
            ("zooming in", CameraMove::ZoomIn),
            ("zoom out", CameraMove::ZoomOut),
            ("zooms out", CameraMove::ZoomOut),
            ("zooming out", CameraMove::ZoomOut),
            ("pull back", CameraMove::ZoomOut),
            ("pull out", CameraMove::ZoomOut),
            ("pan left", CameraMove::PanLeft),
            ("pans left", CameraMove::PanLeft),
            ("panning left", CameraMove::PanLeft),
            ("pan right", CameraMove::PanRight),
            ("pans right", CameraMove::PanRight),
            ("panning right", CameraMove::PanRight),
            ("tilt up", CameraMove::TiltUp),
            ("tilts up", CameraMove::TiltUp),
            ("crane up", CameraMove::TiltUp),
            ("pedestal up", CameraMove::TiltUp),
            ("tilt down", CameraMove::TiltDown),
            ("tilts down", CameraMove::TiltDown),
            ("crane down", CameraMove::TiltDown),
            ("pedestal down", CameraMove::TiltDown),
            ("push in", CameraMove::PushIn),
            ("pushes in", CameraMove::PushIn),
            ("dolly in", CameraMove::PushIn),
            ("orbit", CameraMove::Orbit),
            ("arc shot", CameraMove::Orbit),
            ("truck left", CameraMove::PanLeft),
            ("truck right", CameraMove::PanRight),
            ("static shot", CameraMove::Static),
            ("locked off", CameraMove::Static),
            ("locked-off", CameraMove::Static),
            ("static camera", CameraMove::Static),
        ];
        let lower = prompt.to_lowercase();
        WORDS
            .iter()
            .filter_map(|(w, m)| lower.find(w).map(|at| (at, *m)))
            .min_by_key(|(at, _)| *at)
            .map(|(_, m)| m)
    }

    /// How much larger than the frame the source must be for this move (its largest zoom).
    pub fn max_zoom(self) -> f64 {
        match self {
            Self::ZoomIn | Self::ZoomOut => 1.25,
            Self::PanLeft | Self::PanRight | Self::TiltUp | Self::TiltDown => 1.2,
            Self::PushIn => 1.45,
            Self::Orbit => 1.22,
            Self::Static => 1.0,
        }
    }

    /// The crop of `base` (the source's full-frame crop at the output aspect) at time `t`
    /// (0 to 1).
    pub fn crop_at(self, base: CropRect, t: f64) -> CropRect {
        let t = t.clamp(0.0, 1.0);
        let e = smoothstep(t);
        let (zoom, cx, cy) = match self {
            Self::ZoomIn => (lerp(1.0, 1.25, e), 0.5, 0.5),
            Self::ZoomOut => (lerp(1.25, 1.0, e), 0.5, 0.5),
            // Panning left shows what is to the left: the crop travels right to left.
            Self::PanLeft => (1.2, lerp(1.0, 0.0, e), 0.5),
            Self::PanRight => (1.2, lerp(0.0, 1.0, e), 0.5),
            Self::TiltUp => (1.2, 0.5, lerp(1.0, 0.0, e)),
            Self::TiltDown => (1.2, 0.5, lerp(0.0, 1.0, e)),
            Self::PushIn => (
                lerp(1.0, 1.45, t * t * (3.0 - 2.0 * t) * t.sqrt()),
                0.5,
                lerp(0.5, 0.38, e),
            ),
            Self::Orbit => {
                let a = std::f64::consts::PI * (e - 0.5);
                (
                    1.16 + 0.06 * (std::f64::consts::PI * t).sin(),
                    0.5 + 0.5 * a.sin(),
                    0.5 - 0.2 * a.cos() + 0.2,
                )
            }
            Self::Static => (1.0, 0.5, 0.5),
        };
        let w = base.w / zoom;
        let h = base.h / zoom;
        // cx, cy place the crop within the room left over: 0 = left/top edge, 1 = right/bottom.
        CropRect {
            x: base.x + (base.w - w) * cx.clamp(0.0, 1.0),
            y: base.y + (base.h - h) * cy.clamp(0.0, 1.0),
            w,
            h,
        }
    }
}

fn lerp(a: f64, b: f64, t: f64) -> f64 {
    a + (b - a) * t
}

/// Ease in and out.
pub(crate) fn smoothstep(t: f64) -> f64 {
    let t = t.clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

impl fmt::Display for CameraMove {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CameraMove {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let norm = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        Self::ALL
            .iter()
            .copied()
            .find(|m| m.name() == norm)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|m| m.name()).collect();
                format!("one of {}", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: CropRect = CropRect {
        x: 0.0,
        y: 0.0,
        w: 1600.0,
        h: 900.0,
    };

    #[test]
    fn prompt_words_pick_the_first_named_move() {
        assert_eq!(
            CameraMove::from_prompt("A slow zoom out over the bay"),
            Some(CameraMove::ZoomOut)
        );
        assert_eq!(
            CameraMove::from_prompt("[Pan left] then push in"),
            Some(CameraMove::PanLeft)
        );
        assert_eq!(
            CameraMove::from_prompt("Dolly in on the hero"),
            Some(CameraMove::PushIn)
        );
        assert_eq!(CameraMove::from_prompt("a cat on a mat"), None);
    }

    #[test]
    fn names_parse_loosely() {
        assert_eq!("Pan-Left".parse::<CameraMove>(), Ok(CameraMove::PanLeft));
        assert_eq!("zoom in".parse::<CameraMove>(), Ok(CameraMove::ZoomIn));
        assert!(
            "spin"
                .parse::<CameraMove>()
                .unwrap_err()
                .contains("zoom_in")
        );
    }

    #[test]
    fn zoom_in_starts_on_the_whole_frame_and_ends_closer() {
        assert_eq!(CameraMove::ZoomIn.crop_at(BASE, 0.0), BASE);
        let end = CameraMove::ZoomIn.crop_at(BASE, 1.0);
        assert!((end.w - 1280.0).abs() < 1e-9);
        assert!((end.x - 160.0).abs() < 1e-9);
        assert_eq!(CameraMove::ZoomOut.crop_at(BASE, 1.0), BASE);
    }

    #[test]
    fn pans_travel_across_and_stay_inside_the_source() {
        for m in CameraMove::ALL {
            for i in 0..=20 {
                let c = m.crop_at(BASE, f64::from(i) / 20.0);
                assert!(c.x >= -1e-9 && c.y >= -1e-9, "{m} at {i}: {c:?}");
                assert!(
                    c.x + c.w <= BASE.w + 1e-9 && c.y + c.h <= BASE.h + 1e-9,
                    "{m} at {i}: {c:?}"
                );
                assert!(BASE.w / c.w <= m.max_zoom() + 1e-9, "{m} at {i}");
            }
        }
        let start = CameraMove::PanLeft.crop_at(BASE, 0.0);
        let end = CameraMove::PanLeft.crop_at(BASE, 1.0);
        assert!(start.x > end.x);
    }
}
