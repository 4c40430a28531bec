#!/usr/bin/env python3
"""ttv's persistent model worker.

Loads one diffusers video pipeline (Wan text-to-video, Wan image-to-video,
HunyuanVideo, or LTX-Video's condition pipeline) once and serves generation requests,
so that a run of many segments pays for loading the weights once. ttv starts this
script, talks to it, and stops it.

ttv decides every value of a request (defaults included, the same ones the models'
own scripts use); this worker applies them and adds none of its own.

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

PIPELINES = ("wan", "wan-i2v", "hunyuan", "ltx")

# Schedulers a request may swap in (built from the loaded scheduler's config).
SCHEDULERS = (
    "UniPCMultistepScheduler",
    "DPMSolverMultistepScheduler",
    "FlowMatchEulerDiscreteScheduler",
)


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
        self.base_scheduler = None
        self.scheduler_config = None
        self.upsampler = None

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
        upsampler = None
        if req.get("upsampler"):
            if kind != "ltx":
                raise Failure("invalid_request", "an upsampler goes with the ltx pipeline only")
            if not os.path.isdir(req["upsampler"]):
                raise Failure("unavailable", "no latent upsampler at %r" % req["upsampler"])
            from diffusers import LTXLatentUpsamplePipeline

            upsampler = LTXLatentUpsamplePipeline.from_pretrained(
                req["upsampler"], vae=pipe.vae, torch_dtype=dtype
            )
        for p in filter(None, (pipe, upsampler)):
            if req.get("offload") and device == "cuda":
                p.enable_model_cpu_offload()
            else:
                p.to(device)
        self.pipe, self.kind, self.device, self.upsampler = pipe, kind, device, upsampler
        self.base_scheduler = pipe.scheduler
        self.scheduler_config = dict(pipe.scheduler.config)
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
        multiple = 8 if self.kind == "ltx" else 4
        if (frames - 1) % multiple != 0:
            raise Failure("invalid_request", "num_frames must be %dn+1, got %d" % (multiple, frames))
        width, height = int(req["width"]), int(req["height"])
        refine = req.get("refine")
        if refine and self.upsampler is None:
            raise Failure("invalid_request", "a refine pass needs a loaded upsampler")
        total = steps + (int(refine["steps"]) if refine else 0)
        done = [0]

        def on_step(_pipe, _step, _timestep, kwargs):
            done[0] += 1
            send({"id": rid, "event": "progress", "step": min(done[0], total), "total": total})
            return kwargs

        self.use_scheduler(req.get("scheduler"))
        generator = torch.Generator(device="cpu").manual_seed(int(req.get("seed", 0)))
        args = dict(
            height=height,
            width=width,
            num_frames=frames,
            num_inference_steps=steps,
            generator=generator,
            callback_on_step_end=on_step,
        )
        if req.get("guidance_scale") is not None:
            args["guidance_scale"] = float(req["guidance_scale"])
        fit = req.get("image_fit", "resize")
        if self.kind == "wan-i2v":
            if not req.get("image"):
                raise Failure("invalid_request", "image is required for wan-i2v")
            args["image"] = fitted(req["image"], width, height, fit)
        if self.kind == "ltx":
            from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

            conditions = []
            if req.get("image"):
                conditions.append(LTXVideoCondition(image=fitted(req["image"], width, height, fit), frame_index=0))
            if req.get("last_image"):
                last = fitted(req["last_image"], width, height, fit)
                conditions.append(LTXVideoCondition(image=last, frame_index=frames - 1))
            if conditions:
                args["conditions"] = conditions
            args["frame_rate"] = int(req.get("fps", 30))
        if self.tiny:
            # Tiny pipelines have no tokenizer: stand-in embeddings derived from the seed.
            args.update(tiny_embeddings(self.kind, generator))
        else:
            args["prompt"] = req.get("prompt") or ""
            if req.get("negative_prompt"):
                args["negative_prompt"] = req["negative_prompt"]
        args.update(req.get("pipeline_args") or {})
        started = time.time()
        try:
            if refine:
                video = self.multi_scale(args, refine)
            else:
                video = self.pipe(output_type="np", **args).frames[0]
        except Failure:
            raise
        except Exception as e:  # the pipeline's own failure, reported with its text
            raise Failure("job_failed", "%s: %s" % (type(e).__name__, e))
        export_to_video(video, output, fps=int(req.get("fps", 16)))
        return {"output": output, "frames": len(video), "seconds": round(time.time() - started, 3)}

    def use_scheduler(self, spec):
        """The request's scheduler, or the one the weights came with."""
        import diffusers

        if not spec:
            self.pipe.scheduler = self.base_scheduler
            return
        if spec.get("class") not in SCHEDULERS:
            raise Failure("invalid_request", "scheduler must be one of %s" % ", ".join(SCHEDULERS))
        cls = getattr(diffusers, spec["class"])
        self.pipe.scheduler = cls.from_config(self.scheduler_config, **(spec.get("overrides") or {}))

    def multi_scale(self, args, refine):
        """LTX-Video's multi-scale recipe (diffusers' LTX documentation): a first pass at
        `downscale` of the size, latents doubled by the upsampler, a second pass to refine
        them at full size, and the frames resized to the size asked for."""
        from PIL import Image

        width, height = args["width"], args["height"]
        ratio = self.pipe.vae_spatial_compression_ratio
        small_w = int(width * refine["downscale"]) // ratio * ratio
        small_h = int(height * refine["downscale"]) // ratio * ratio
        first = dict(args, width=small_w, height=small_h)
        latents = self.pipe(output_type="latent", **first).frames
        upsampled = self.upsampler(
            latents=latents, output_type="latent", **(refine.get("upsample_args") or {})
        ).frames
        second = dict(args, width=small_w * 2, height=small_h * 2, latents=upsampled)
        second.pop("num_inference_steps", None)
        second.update(refine.get("args") or {})
        frames = self.pipe(output_type="pil", **second).frames[0]
        return [f.resize((width, height), Image.LANCZOS) for f in frames]


def fitted(path, width, height, fit):
    """The image at `path` as `width` x `height`: resized (its shape already matches), or
    scaled to cover and centre-cropped."""
    from PIL import Image

    img = Image.open(path).convert("RGB")
    if fit == "cover":
        scale = max(width / img.width, height / img.height)
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.LANCZOS)
        left, top = (img.width - width) // 2, (img.height - height) // 2
        return img.crop((left, top, left + width, top + height))
    return img.resize((width, height), Image.LANCZOS)


def pretrained_pipeline(kind, model, dtype):
    import torch

    if kind in ("wan", "wan-i2v"):
        from diffusers import AutoencoderKLWan, WanImageToVideoPipeline, WanPipeline

        # The Wan VAE is numerically sensitive; diffusers' examples keep it in float32.
        vae = AutoencoderKLWan.from_pretrained(model, subfolder="vae", torch_dtype=torch.float32)
        if kind == "wan":
            return WanPipeline.from_pretrained(model, vae=vae, torch_dtype=dtype)
        extra = {}
        if os.path.isdir(os.path.join(model, "image_encoder")):
            # Wan2.1 I2V's CLIP image encoder, in float32 as diffusers documents it
            # (Wan2.2's I2V has none).
            from transformers import CLIPVisionModel

            extra["image_encoder"] = CLIPVisionModel.from_pretrained(
                model, subfolder="image_encoder", torch_dtype=torch.float32
            )
        return WanImageToVideoPipeline.from_pretrained(model, vae=vae, torch_dtype=dtype, **extra)
    if kind == "ltx":
        from diffusers import LTXConditionPipeline

        pipe = LTXConditionPipeline.from_pretrained(model, torch_dtype=dtype)
        pipe.vae.enable_tiling()
        return pipe
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
        UniPCMultistepScheduler,
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
        # The scheduler the Wan-AI diffusers folders ship (flow matching through UniPC).
        scheduler=UniPCMultistepScheduler(
            prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0
        ),
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
