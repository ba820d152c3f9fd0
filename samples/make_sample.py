"""Re-create samples/bbb_320x180.mp4 from Big Buck Bunny (the clip in ../shared/data/clips/).

    python samples/make_sample.py ../shared/data/clips/big_buck_bunny_0_30.webm samples/bbb_320x180.mp4
"""

import sys
from fractions import Fraction

import av

START_SECONDS, SECONDS, WIDTH, HEIGHT = 21.0, 3.0, 320, 180


def main(source: str, target: str) -> None:
    with av.open(source) as src, av.open(target, "w") as dst:
        video_in, audio_in = src.streams.video[0], src.streams.audio[0]
        video = dst.add_stream("libx264", rate=24, options={"crf": "20", "preset": "slow"})
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.codec_context.color_primaries = video.codec_context.color_trc = video.codec_context.colorspace = 1
        video.codec_context.color_range = 1
        audio = dst.add_stream("aac", rate=audio_in.codec_context.sample_rate)
        audio.layout = audio_in.codec_context.layout
        resampler = av.AudioResampler(format="fltp", layout=audio.layout, rate=audio.rate)
        for frame in src.decode(video_in, audio_in):
            t = float(frame.pts * frame.time_base) - START_SECONDS
            if not 0 <= t < SECONDS:
                continue
            if isinstance(frame, av.VideoFrame):
                small = frame.reformat(WIDTH, HEIGHT, "yuv420p", interpolation="AREA")
                small.pts, small.time_base = round(t * 24), Fraction(1, 24)
                dst.mux(video.encode(small))
            else:
                frame.pts, frame.time_base = round(t * frame.sample_rate), Fraction(1, frame.sample_rate)
                for resampled in resampler.resample(frame):
                    dst.mux(audio.encode(resampled))
        dst.mux(video.encode(None))
        dst.mux(audio.encode(None))


if __name__ == "__main__":
    main(*sys.argv[1:3])
