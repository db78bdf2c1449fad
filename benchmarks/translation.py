"""Translation latency per message.

1. The tiny test package (tests/gateway/tiny_argos.py) through the whole gateway path: the
   Translator, its cache and glossary, argos, CTranslate2 — what the machinery itself costs.
2. CTranslate2 alone on a model the size of an argos package (Transformer base: 6+6 layers,
   d_model 512, 8 heads, FFN 2048, 32k vocabulary, int8) with random weights, decoding a
   sentence of a fixed length with argos's beam size, with intra_threads 1 and 0 (0 = one
   thread per core: with two messages at once on a small machine their threads fight over the cores).
   Wall time depends on what else runs on the machine; the CPU time per message (all threads) is
   printed beside it.

    bin/velkommen benchmark translation [--messages N]
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np

from bot.language.glossary import Glossary
from bot.language.packages import install
from bot.language.translate import Translator
from bot.settings import ROOT

LAYERS, DIM, HEADS, FFN, VOCABULARY = 6, 512, 8, 2048, 32000
SOURCE_TOKENS, TARGET_TOKENS, BEAM = 20, 24, 4


def timed(call: Callable[[], object], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    return sorted(times)


def summary(times: list[float]) -> str:
    return f"mean {statistics.mean(times):7.2f} ms  p50 {times[len(times) // 2]:7.2f} ms  p95 {times[int(0.95 * len(times))]:7.2f} ms"


def tiny_package(messages: int) -> None:
    from tests.gateway.tiny_argos import build_package

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for source, target, output in (("ar", "en", "where can I learn danish"), ("en", "ar", "يمكنك تعلم الدنماركية")):
            install(build_package(folder / "files", source, target, output), folder / "packages")
        began = time.perf_counter()
        translator = Translator.load(folder / "packages", Glossary.from_file(ROOT / "data/language/glossary.yml"), ["en", "da"])
        print(f"tiny package: loaded and warmed in {(time.perf_counter() - began) * 1000:.0f} ms")
        counter = iter(range(10 ** 9))
        one = timed(lambda: translator.translate(f"أين يمكنني تعلم اللغة الدنماركية؟ {next(counter)}", "ar", "en"), messages)
        three = timed(lambda: translator.translate(
            f"Go to Borgerservice. Bring your MitID. Message {next(counter)}.", "en", "ar"), messages)
        cached = timed(lambda: translator.translate("Go to Borgerservice. Bring your MitID.", "en", "ar"), messages)
        print(f"  ar→en, 1 sentence      {summary(one)}")
        print(f"  en→ar, 3 sentences     {summary(three)}  (glossary notes added)")
        print(f"  repeated text (cache)  {summary(cached)}")


def rand(*shape: int) -> np.ndarray:
    return (np.random.standard_normal(shape) * 0.02).astype(np.float32)


def argos_size_model(directory: Path) -> None:
    from ctranslate2.specs import TransformerSpec

    spec = TransformerSpec.from_config(LAYERS, HEADS)

    def norm(layer) -> None:
        layer.gamma, layer.beta = np.ones(DIM, np.float32), np.zeros(DIM, np.float32)

    def linear(layer, outputs: int, inputs: int) -> None:
        layer.weight, layer.bias = rand(outputs, inputs), np.zeros(outputs, np.float32)

    def attention(layer, self_attention: bool) -> None:
        norm(layer.layer_norm)
        shapes = [(3 * DIM, DIM), (DIM, DIM)] if self_attention else [(DIM, DIM), (2 * DIM, DIM), (DIM, DIM)]
        for sub, shape in zip(layer.linear, shapes):
            linear(sub, *shape)

    def feed_forward(layer) -> None:
        norm(layer.layer_norm)
        linear(layer.linear_0, FFN, DIM)
        linear(layer.linear_1, DIM, FFN)

    spec.encoder.embeddings[0].weight = rand(VOCABULARY, DIM)
    for layer in spec.encoder.layer:
        attention(layer.self_attention, True)
        feed_forward(layer.ffn)
    norm(spec.encoder.layer_norm)
    spec.decoder.embeddings.weight = rand(VOCABULARY, DIM)
    for layer in spec.decoder.layer:
        attention(layer.self_attention, True)
        attention(layer.attention, False)
        feed_forward(layer.ffn)
    norm(spec.decoder.layer_norm)
    linear(spec.decoder.projection, VOCABULARY, DIM)
    vocabulary = ["<unk>", "<s>", "</s>", *(f"▁w{i}" for i in range(VOCABULARY - 3))]
    spec.register_source_vocabulary(vocabulary)
    spec.register_target_vocabulary(vocabulary)
    spec.validate()
    spec.optimize(quantization="int8")
    spec.save(str(directory))


def argos_size(messages: int) -> None:
    import ctranslate2

    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        argos_size_model(Path(tmp))
        size = sum(f.stat().st_size for f in Path(tmp).iterdir()) / 1e6
        print(f"argos-size model (random weights, int8, {size:.0f} MB) built in {time.perf_counter() - began:.0f} s; "
              f"{os.cpu_count()} CPU cores; {SOURCE_TOKENS} source → {TARGET_TOKENS} target tokens, beam {BEAM}")
        words = [f"▁w{i}" for i in range(VOCABULARY - 3)]
        for threads in (1, 0):
            for at_once in (1, 2):
                translator = ctranslate2.Translator(tmp, device="cpu", inter_threads=at_once, intra_threads=threads)

                def translate() -> None:
                    translator.translate_batch([[random.choice(words) for _ in range(SOURCE_TOKENS)]], beam_size=BEAM,
                                               min_decoding_length=TARGET_TOKENS, max_decoding_length=TARGET_TOKENS)

                timed(translate, 3)  # warm
                cpu = time.process_time()
                with ThreadPoolExecutor(at_once) as pool:
                    times = sorted(t for batch in pool.map(lambda _: timed(translate, messages), range(at_once)) for t in batch)
                cpu_ms = (time.process_time() - cpu) * 1000 / len(times)
                print(f"  intra_threads={threads}, {at_once} at once: per message {summary(times)}  cpu {cpu_ms:6.0f} ms")
                del translator


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmark translation")
    parser.add_argument("--messages", type=int, default=30, help="messages timed per case (default 30)")
    args = parser.parse_args(argv)
    tiny_package(max(args.messages, 100))
    argos_size(args.messages)
    return 0
