"""Synthetic, musically varied WAV files (tones, glides, noise bursts) for demos and tests."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

_SCALES: tuple[tuple[int, ...], ...] = (
    (0, 2, 4, 7, 9),  # major pentatonic
    (0, 3, 5, 7, 10),  # minor pentatonic
    (0, 2, 4, 5, 7, 9, 11),  # major
    (0, 2, 3, 5, 7, 8, 10),  # natural minor
    (0, 2, 3, 5, 7, 9, 10),  # dorian
)


def _harmonic_tone(
    freq: np.ndarray, sample_rate: int, n_harmonics: int, brightness: float
) -> np.ndarray:
    """A sum of harmonics following the instantaneous frequency ``freq`` (Hz, one per sample)."""
    phase = 2.0 * np.pi * np.cumsum(freq) / sample_rate
    out = np.zeros_like(phase)
    nyquist = 0.45 * sample_rate
    for k in range(1, n_harmonics + 1):
        # Fade out harmonics near Nyquist instead of aliasing them.
        gain = np.clip((nyquist - k * freq) / (0.1 * nyquist), 0.0, 1.0) / k**brightness
        out += gain * np.sin(k * phase)
    return out


def _envelope(n: int, sample_rate: int, attack: float, decay: float, sustain: float) -> np.ndarray:
    """Attack, exponential decay towards ``sustain`` and a short release at the end."""
    t = np.arange(n) / sample_rate
    env = np.minimum(1.0, t / max(attack, 1e-4))
    env *= sustain + (1.0 - sustain) * np.exp(-t / max(decay, 1e-4))
    release = min(n, int(0.02 * sample_rate))
    if release > 0:
        env[n - release :] *= np.linspace(1.0, 0.0, release)
    return env


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    """A moving-average low-pass filter."""
    if width <= 1:
        return x
    return np.convolve(x, np.ones(width) / width, mode="same")


def _render(rng: np.random.Generator, n: int, sample_rate: int) -> np.ndarray:
    """One mono piece: a melody, a gliding bass, a pad and percussive noise bursts."""
    out = np.zeros(n)
    tempo = rng.uniform(70.0, 170.0)
    beat = 60.0 / tempo
    root = 55.0 * 2.0 ** (rng.integers(0, 12) / 12.0)
    scale = _SCALES[rng.integers(0, len(_SCALES))]

    # Melody: notes on a scale with vibrato, random lengths and timbres.
    pos = 0
    n_harmonics = int(rng.integers(3, 12))
    brightness = rng.uniform(0.6, 2.0)
    while pos < n:
        length = min(n - pos, int(beat * rng.choice([0.25, 0.5, 0.5, 1.0, 1.0, 2.0]) * sample_rate))
        if length <= 0:
            break
        if rng.random() < 0.85:  # otherwise a rest
            degree = scale[rng.integers(0, len(scale))] + 12 * int(rng.integers(2, 5))
            f0 = root * 2.0 ** (degree / 12.0)
            t = np.arange(length) / sample_rate
            vibrato = 1.0 + rng.uniform(0.0, 0.01) * np.sin(2 * np.pi * rng.uniform(3, 7) * t)
            glide = 2.0 ** (rng.uniform(-0.5, 0.5) * np.minimum(1.0, t / 0.05) / 12.0)
            tone = _harmonic_tone(f0 * vibrato * glide, sample_rate, n_harmonics, brightness)
            env = _envelope(
                length,
                sample_rate,
                rng.uniform(0.002, 0.05),
                rng.uniform(0.05, 0.6),
                rng.uniform(0.0, 0.6),
            )
            out[pos : pos + length] += rng.uniform(0.2, 0.45) * env * tone
        pos += length

    # Bass: slow glides between scale roots.
    n_points = max(2, int(n / (sample_rate * beat * 4)) + 2)
    degrees = np.array([scale[i] for i in rng.integers(0, len(scale), n_points)], dtype=float)
    bass_freq = root * 2.0 ** (
        np.interp(np.linspace(0, n_points - 1, n), np.arange(n_points), degrees) / 12.0
    )
    bass = _harmonic_tone(bass_freq, sample_rate, int(rng.integers(2, 6)), 1.5)
    pulse = 0.6 + 0.4 * np.sin(2 * np.pi * np.arange(n) / (sample_rate * beat * 2)) ** 2
    out += rng.uniform(0.1, 0.3) * bass * pulse

    # Pad: a slowly swelling chord.
    chord = [scale[0], scale[min(2, len(scale) - 1)], scale[min(3, len(scale) - 1)]]
    swell = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / (sample_rate * rng.uniform(4, 10)))
    for degree in chord:
        f = np.full(n, root * 2.0 ** ((degree + 24) / 12.0))
        out += rng.uniform(0.03, 0.08) * swell * _harmonic_tone(f, sample_rate, 4, 2.5)

    # Percussion: kicks (falling sine) and hats/snares (filtered noise bursts).
    step = beat / 2.0
    for i in range(int(n / (step * sample_rate))):
        start = int(i * step * sample_rate)
        r = rng.random()
        if i % 4 == 0 and r < 0.8:
            length = min(n - start, int(0.25 * sample_rate))
            t = np.arange(length) / sample_rate
            freq = 45.0 + 90.0 * np.exp(-t / 0.04)
            kick = np.sin(2 * np.pi * np.cumsum(freq) / sample_rate) * np.exp(-t / 0.09)
            out[start : start + length] += 0.5 * kick
        elif r < 0.55:
            length = min(n - start, int(rng.uniform(0.03, 0.3) * sample_rate))
            noise = rng.standard_normal(length)
            if rng.random() < 0.5:
                noise = np.diff(noise, prepend=0.0)  # bright: hat
            else:
                noise = _smooth(noise, int(rng.integers(2, 12)))  # darker: snare/shaker
            env = np.exp(-np.arange(length) / (sample_rate * rng.uniform(0.01, 0.08)))
            out[start : start + length] += rng.uniform(0.05, 0.25) * noise * env

    # Slow overall dynamics.
    out *= 0.7 + 0.3 * np.sin(
        2 * np.pi * np.arange(n) / (sample_rate * rng.uniform(6, 15)) + rng.uniform(0, 2 * np.pi)
    )
    return out


def synthesize_audio(
    folder: str | Path,
    n_files: int = 12,
    seconds: float = 20.0,
    sample_rate: int = 44100,
    channels: int = 1,
    seed: int = 0,
) -> list[Path]:
    """Write ``n_files`` 16-bit PCM WAV files to ``folder`` and return their paths.

    The content depends only on the arguments: the same seed gives byte-identical files.
    """
    if n_files < 0 or seconds <= 0 or sample_rate <= 0 or channels < 1:
        raise ValueError("n_files >= 0, seconds > 0, sample_rate > 0 and channels >= 1 required")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n = round(seconds * sample_rate)
    paths: list[Path] = []
    for index in range(n_files):
        rng = np.random.default_rng([seed, index])
        mono = _render(rng, n, sample_rate)
        data = np.empty((n, channels))
        for c in range(channels):
            # Each channel: its own gain and a small delay, so channels differ slightly.
            delay = int(rng.integers(0, int(0.002 * sample_rate) + 1)) if c else 0
            shifted = np.concatenate([np.zeros(delay), mono[: n - delay]]) if delay else mono
            data[:, c] = shifted * rng.uniform(0.8, 1.0)
        peak = float(np.max(np.abs(data))) or 1.0
        pcm = np.clip(np.round(data / peak * 0.89 * 32767.0), -32768, 32767).astype("<i2")
        path = folder / f"demo_{index:03d}.wav"
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(channels)
            wav.setsampwidth(2)
            wav.setframerate(sample_rate)
            wav.writeframes(pcm.tobytes())
        paths.append(path)
    return paths
