//! Just enough AAC for joining: the AudioSpecificConfig of an AAC-LC stream and a silent
//! frame, built from the standard's raw_data_block syntax (ISO/IEC 14496-3, 4.4.2).
//!
//! A silent frame is one channel element per channel pair (mono: SCE; stereo: CPE) whose
//! channel streams carry no scale-factor bands (`max_sfb = 0`), so every spectral
//! coefficient is zero, followed by the END element. It decodes to 1024 samples of silence
//! per channel; no encoder is needed.

/// Samples per channel in one AAC-LC frame.
pub(super) const FRAME_SAMPLES: u32 = 1024;

/// Sample rates by the 4-bit index of the AudioSpecificConfig.
const RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// What an AAC track needs to be joined: object type, rate index, channel configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct AacConfig {
    /// Audio object type (2 = AAC-LC).
    pub object_type: u8,
    /// Index into the standard's sample-rate table.
    pub freq_index: u8,
    /// Channel configuration (1 = mono, 2 = stereo).
    pub channels: u8,
}

impl AacConfig {
    /// The sample rate, when the index is a standard one.
    pub fn sample_rate(self) -> Option<u32> {
        RATES.get(usize::from(self.freq_index)).copied()
    }

    /// The two-byte AudioSpecificConfig.
    pub fn audio_specific_config(self) -> [u8; 2] {
        let v = (u16::from(self.object_type & 0x1f) << 11)
            | (u16::from(self.freq_index & 0x0f) << 7)
            | (u16::from(self.channels & 0x0f) << 3);
        v.to_be_bytes()
    }

    /// A frame of silence, for AAC-LC mono or stereo.
    pub fn silent_frame(self) -> Option<Vec<u8>> {
        if self.object_type != 2 {
            return None;
        }
        let mut bits = Bits::default();
        match self.channels {
            1 => {
                bits.put(0, 3); // ID_SCE
                bits.put(0, 4); // element_instance_tag
                empty_channel_stream(&mut bits);
            }
            2 => {
                bits.put(1, 3); // ID_CPE
                bits.put(0, 4);
                bits.put(0, 1); // common_window
                empty_channel_stream(&mut bits);
                empty_channel_stream(&mut bits);
            }
            _ => return None,
        }
        bits.put(7, 3); // ID_END
        Some(bits.finish())
    }
}

/// An individual_channel_stream with no bands: global gain, ics_info with max_sfb 0, no
/// pulse, TNS or gain-control data.
fn empty_channel_stream(bits: &mut Bits) {
    bits.put(100, 8); // global_gain (any value: there is nothing to scale)
    bits.put(0, 1); // ics_reserved_bit
    bits.put(0, 2); // window_sequence: ONLY_LONG_SEQUENCE
    bits.put(0, 1); // window_shape
    bits.put(0, 6); // max_sfb
    bits.put(0, 1); // predictor_data_present
    bits.put(0, 1); // pulse_data_present
    bits.put(0, 1); // tns_data_present
    bits.put(0, 1); // gain_control_data_present
}

#[derive(Default)]
struct Bits {
    bytes: Vec<u8>,
    used: u32,
}

impl Bits {
    fn put(&mut self, value: u32, count: u32) {
        for i in (0..count).rev() {
            if self.used.is_multiple_of(8) {
                self.bytes.push(0);
            }
            let bit = ((value >> i) & 1) as u8;
            if let Some(last) = self.bytes.last_mut() {
                *last |= bit << (7 - self.used % 8);
            }
            self.used += 1;
        }
    }

    fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_frames_follow_the_raw_data_block_syntax() {
        let mono = AacConfig {
            object_type: 2,
            freq_index: 3,
            channels: 1,
        };
        // SCE(000) tag(0000) gain(01100100) ics_info(00000000000) 000 END(111).
        assert_eq!(mono.silent_frame().unwrap(), [0x00, 0xc8, 0x00, 0x07]);
        assert_eq!(mono.audio_specific_config(), [0x11, 0x88]);
        assert_eq!(mono.sample_rate(), Some(48000));
        let stereo = AacConfig {
            channels: 2,
            ..mono
        };
        assert_eq!(stereo.silent_frame().unwrap().len(), 7);
        assert_eq!(stereo.audio_specific_config(), [0x11, 0x90]);
        assert!(
            AacConfig {
                channels: 6,
                ..mono
            }
            .silent_frame()
            .is_none()
        );
    }
}
