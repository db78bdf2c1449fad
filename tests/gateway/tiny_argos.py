"""Builds tiny but real argos packages for the tests and the translation benchmark.

A package is what argos installs: a zip with one top-level folder holding metadata.json, a
SentencePiece model and a CTranslate2 Transformer. Here the SentencePiece model is trained on a
dozen sentences and the Transformer's weights are set by hand: attention and feed-forward
layers are zero, so each decoder step sees only the previous token's embedding; the target
embeddings are orthogonal and the output projection maps each token to the next token of one
fixed sentence. Whatever the input, the package translates it into that sentence — through
argos's own tokenizer, CTranslate2 and beam search. A few kB, built in well under a second.
"""
from __future__ import annotations

import io
import json
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import sentencepiece as spm
from ctranslate2.specs import TransformerDecoderSpec, TransformerEncoderSpec, TransformerSpec

TRAINING = [
    "hello how are you", "I need help with work", "my child goes to school", "the doctor is open today",
    "we live in a small flat", "thank you very much", "good morning", "what is the address",
    "مرحبا كيف حالك", "привіт як справи",
]
DIM = 16
EMBEDDING = 8.0  # one-hot size; ×sqrt(DIM) in CTranslate2 it outweighs the sinusoidal positions


def train_sentencepiece(sentences: list[str]) -> spm.SentencePieceProcessor:
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_writer=model, vocab_size=len(" ".join(sentences).split()) + 3,
        model_type="word", hard_vocab_limit=False, normalization_rule_name="identity", minloglevel=2,
    )
    return spm.SentencePieceProcessor(model_proto=model.getvalue())


def zeros(*shape: int) -> np.ndarray:
    return np.zeros(shape, dtype=np.float32)


def fill_layer_norm(norm) -> None:
    norm.gamma = np.ones(DIM, dtype=np.float32)
    norm.beta = zeros(DIM)


def fill_linear(linear, outputs: int, inputs: int) -> None:
    linear.weight = zeros(outputs, inputs)
    linear.bias = zeros(outputs)


def fill_attention(attention, self_attention: bool) -> None:
    fill_layer_norm(attention.layer_norm)
    if self_attention:
        fill_linear(attention.linear[0], 3 * DIM, DIM)
        fill_linear(attention.linear[1], DIM, DIM)
    else:
        fill_linear(attention.linear[0], DIM, DIM)
        fill_linear(attention.linear[1], 2 * DIM, DIM)
        fill_linear(attention.linear[2], DIM, DIM)


def fill_feed_forward(ffn) -> None:
    fill_layer_norm(ffn.layer_norm)
    fill_linear(ffn.linear_0, DIM, DIM)
    fill_linear(ffn.linear_1, DIM, DIM)


def fixed_output_spec(source_vocabulary: list[str], output_pieces: list[str]) -> TransformerSpec:
    target_vocabulary = ["<unk>", "<s>", "</s>", *output_pieces]
    if len(set(output_pieces)) != len(output_pieces) or len(target_vocabulary) > DIM:
        raise ValueError("the fixed sentence needs distinct words, at most 13")
    spec = TransformerSpec(TransformerEncoderSpec(1, 2), TransformerDecoderSpec(1, 2))
    spec.encoder.embeddings[0].weight = zeros(len(source_vocabulary), DIM)
    fill_attention(spec.encoder.layer[0].self_attention, self_attention=True)
    fill_feed_forward(spec.encoder.layer[0].ffn)
    fill_layer_norm(spec.encoder.layer_norm)

    spec.decoder.embeddings.weight = EMBEDDING * np.eye(len(target_vocabulary), DIM, dtype=np.float32)
    fill_attention(spec.decoder.layer[0].self_attention, self_attention=True)
    fill_attention(spec.decoder.layer[0].attention, self_attention=False)
    fill_feed_forward(spec.decoder.layer[0].ffn)
    fill_layer_norm(spec.decoder.layer_norm)
    chain = ["<s>", *output_pieces, "</s>"]
    projection = zeros(len(target_vocabulary), DIM)
    for previous, following in zip(chain, chain[1:]):
        projection[target_vocabulary.index(following), target_vocabulary.index(previous)] = 10.0
    spec.decoder.projection.weight = projection
    spec.decoder.projection.bias = zeros(len(target_vocabulary))
    spec.register_source_vocabulary(source_vocabulary)
    spec.register_target_vocabulary(target_vocabulary)
    return spec


def build_package(directory: Path, source: str, target: str, output: str, version: str = "1.0") -> Path:
    """Writes `translate-<source>_<target>.argosmodel` into `directory`; it translates anything into `output`."""
    tokenizer = train_sentencepiece([*TRAINING, output])
    vocabulary = [tokenizer.id_to_piece(i) for i in range(tokenizer.get_piece_size())]
    spec = fixed_output_spec(vocabulary, tokenizer.encode(output, out_type=str))
    spec.validate()
    spec.optimize()
    folder = f"translate-{source}_{target}-{version.replace('.', '_')}"
    metadata = {
        "package_version": version, "argos_version": "1.9", "from_code": source, "from_name": source,
        "to_code": target, "to_name": target, "type": "translate",
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"translate-{source}_{target}.argosmodel"
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "model").mkdir()
        spec.save(str(Path(tmp) / "model"))
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{folder}/metadata.json", json.dumps(metadata))
            archive.writestr(f"{folder}/sentencepiece.model", tokenizer.serialized_model_proto())
            archive.writestr(f"{folder}/README.md", f"Test package: every {source} text becomes {output!r}.\n")
            for file in sorted((Path(tmp) / "model").iterdir()):
                archive.write(file, f"{folder}/model/{file.name}")
    return path
