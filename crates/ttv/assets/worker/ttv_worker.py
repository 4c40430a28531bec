#!/usr/bin/env python3
"""ttv's persistent model worker.

Loads one diffusers video pipeline (Wan text-to-video, Wan image-to-video, or
HunyuanVideo) once and serves generation requests, so that a run of many segments
pays for loading the weights once. ttv starts this script, talks to it, and stops it.

Protocol: one JSON object per line. Requests arrive on stdin; replies and progress
events go to the original stdout. Everything else the libraries print (logs, tqdm
bars, warnings) is sent to stderr, which ttv keeps in the worker's log.

  request  {"id": 1, "op": "ping" | "load" | "generate" | "shutdown", ...}
  event    {"id": 1, "event": "progress", "step": 3, "total": 30}
  reply    {"id": 1, "ok": true, "result": {...}}
           {"id": 1, "ok": false, "error": {"kind": "unavailable", "message": "..."}}

Error kinds match ttv's: unavailable (a library or the weights are missing),
invalid_request (a bad value), job_failed (the pipeline raised).

torch and diffusers are imported only when a pipeline is loaded, so `ping` answers
on any Python 3 and reports what is installed.
"""

import json
import os
import sys
import time
import traceback

# Keep the protocol channel private: whatever else writes to fd 1 lands on stderr.
_PROTOCOL = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
os.dup2(2, 1)
sys.stdout = sys.stderr

PIPELINES = ("wan", "wan-i2v", "hunyuan")


class Failure(Exception):
    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind
        self.message = message


def send(obj):
    _PROTOCOL.write(json.dumps(obj) + "\n")
    _PROTOCOL.flush()


def installed(module):
    """Whether `module` can be imported, found without importing it (torch takes seconds)."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except Exception:
        return False


class Worker:
    def __init__(self):
        self.pipe = None
        self.kind = None
        self.device = "cpu"
        self.tiny = False

    def ping(self, _req):
        return {
            "pid": os.getpid(),
            "python": sys.version.split()[0],
            "torch": installed("torch"),
            "diffusers": installed("diffusers"),
            "loaded": self.kind,
        }

    def load(self, req):
        kind = req.get("pipeline")
        if kind not in PIPELINES:
            raise Failure("invalid_request", "pipeline must be one of %s" % ", ".join(PIPELINES))
        if self.pipe is not None:
            if kind == self.kind:
                return {"pipeline": kind, "seconds": 0.0, "reused": True}
            raise Failure("invalid_request", "this worker already holds %s; start another" % self.kind)
        for module in ("torch", "diffusers"):
            if not installed(module):
                raise Failure("unavailable", "%s is not installed in %s" % (module, sys.executable))
        import torch

        model = req.get("model") or ""
        device = req.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = getattr(torch, req.get("dtype") or ("bfloat16" if device == "cuda" else "float32"))
        started = time.time()
        if model == "tiny-random":
            pipe = tiny_pipeline(kind)
            self.tiny = True
        else:
            if not os.path.isdir(model):
                raise Failure("unavailable", "no diffusers weights at %r" % model)
            pipe = pretrained_pipeline(kind, model, dtype)
        if req.get("offload") and device == "cuda":
            pipe.enable_model_cpu_offload()
        else:
            pipe.to(device)
        self.pipe, self.kind, self.device = pipe, kind, device
        return {"pipeline": kind, "seconds": round(time.time() - started, 3), "reused": False}

    def generate(self, req, rid):
        if self.pipe is None:
            raise Failure("invalid_request", "load a pipeline first")
        import torch
        from diffusers.utils import export_to_video

        output = req.get("output")
        if not output:
            raise Failure("invalid_request", "output (a file path) is required")
        steps = int(req.get("steps", 30))
        frames = int(req.get("num_frames", 81))
        if (frames - 1) % 4 != 0:
            raise Failure("invalid_request", "num_frames must be 4n+1, got %d" % frames)
        generator = torch.Generator(device="cpu").manual_seed(int(req.get("seed", 0)))

        def on_step(_pipe, step, _timestep, kwargs):
            send({"id": rid, "event": "progress", "step": step + 1, "total": steps})
            return kwargs

        args = dict(
            height=int(req["height"]),
            width=int(req["width"]),
            num_frames=frames,
            num_inference_steps=steps,
            generator=generator,
            output_type="np",
            callback_on_step_end=on_step,
        )
        if req.get("guidance_scale") is not None:
            args["guidance_scale"] = float(req["guidance_scale"])
        if self.kind == "wan-i2v":
            from PIL import Image

            if not req.get("image"):
                raise Failure("invalid_request", "image is required for wan-i2v")
            args["image"] = Image.open(req["image"]).convert("RGB")
        if self.tiny:
            # Tiny pipelines have no tokenizer: stand-in embeddings derived from the seed.
            args.update(tiny_embeddings(self.kind, generator))
        else:
            args["prompt"] = req.get("prompt") or ""
            if req.get("negative_prompt") and self.kind != "hunyuan":
                args["negative_prompt"] = req["negative_prompt"]
        started = time.time()
        try:
            result = self.pipe(**args)
        except Failure:
            raise
        except Exception as e:  # the pipeline's own failure, reported with its text
            raise Failure("job_failed", "%s: %s" % (type(e).__name__, e))
        video = result.frames[0]
        export_to_video(video, output, fps=int(req.get("fps", 16)))
        return {"output": output, "frames": len(video), "seconds": round(time.time() - started, 3)}


def pretrained_pipeline(kind, model, dtype):
    import torch

    if kind in ("wan", "wan-i2v"):
        from diffusers import AutoencoderKLWan, WanImageToVideoPipeline, WanPipeline

        # The Wan VAE is numerically sensitive; diffusers' examples keep it in float32.
        vae = AutoencoderKLWan.from_pretrained(model, subfolder="vae", torch_dtype=torch.float32)
        cls = WanPipeline if kind == "wan" else WanImageToVideoPipeline
        return cls.from_pretrained(model, vae=vae, torch_dtype=dtype)
    from diffusers import HunyuanVideoPipeline

    pipe = HunyuanVideoPipeline.from_pretrained(model, torch_dtype=dtype)
    pipe.vae.enable_tiling()
    return pipe


def tiny_pipeline(kind):
    """A randomly initialised pipeline of a few small layers, for tests on a CPU."""
    import torch

    if kind != "wan":
        raise Failure("invalid_request", "tiny-random is available for the wan pipeline only")
    from diffusers import (
        AutoencoderKLWan,
        FlowMatchEulerDiscreteScheduler,
        WanPipeline,
        WanTransformer3DModel,
    )

    torch.manual_seed(0)
    vae = AutoencoderKLWan(
        base_dim=3,
        z_dim=16,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
    )
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=16,
        out_channels=16,
        text_dim=32,
        freq_dim=256,
        ffn_dim=32,
        num_layers=2,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
    )
    return WanPipeline(
        tokenizer=None,
        text_encoder=None,
        transformer=transformer,
        vae=vae,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
    )


def tiny_embeddings(kind, generator):
    import torch

    shape = (1, 16, 32)
    return {
        "prompt_embeds": torch.randn(shape, generator=generator),
        "negative_prompt_embeds": torch.randn(shape, generator=generator),
    }


def main():
    worker = Worker()
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        rid = None
        try:
            req = json.loads(line)
            rid = req.get("id")
            op = req.get("op")
            if op == "ping":
                result = worker.ping(req)
            elif op == "load":
                result = worker.load(req)
            elif op == "generate":
                result = worker.generate(req, rid)
            elif op == "shutdown":
                send({"id": rid, "ok": True, "result": {}})
                return 0
            else:
                raise Failure("invalid_request", "unknown op %r" % op)
            send({"id": rid, "ok": True, "result": result})
        except Failure as f:
            send({"id": rid, "ok": False, "error": {"kind": f.kind, "message": f.message}})
        except Exception as e:
            traceback.print_exc()
            send({"id": rid, "ok": False, "error": {"kind": "job_failed", "message": "%s: %s" % (type(e).__name__, e)}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
