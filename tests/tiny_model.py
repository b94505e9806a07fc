"""Builds a tiny but real chat model in a folder, so the local backend is tested end to end with no download.

The model is a Qwen2-architecture causal LM with random weights (32 hidden units, 2 layers, 2 attention heads, 1 KV
head) saved as safetensors; the tokenizer is a byte-level BPE trained here with the `tokenizers` library on a short
corpus, wrapped as a PreTrainedTokenizerFast with Qwen-style special tokens and a Jinja chat template that renders
system/user/assistant turns and honours `enable_thinking`. Building takes well under a second.

Variants for the security tests copy the folder and break it the way a hostile or careless upload would:
pickle-only weights, custom code behind `auto_map`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

# Special tokens as Qwen2.5/Qwen3 name them: the chat template frames turns with im_start/im_end, and the model
# stops on im_end. <think> and </think> are added tokens that are NOT special, as in Qwen3 and the DeepSeek-R1
# distills, so decoding with skip_special_tokens keeps them for the reasoning parser downstream.
ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}"
    "{% if enable_thinking is defined and enable_thinking %}{{ '<think>\\n' }}{% endif %}"
    "{% endif %}"
)

CORPUS = [
    "Qwen and DeepSeek are open language models that answer questions, write code and solve math problems.",
    "The quick brown fox jumps over the lazy dog while the model streams its answer token by token.",
    "Time to first token, tokens per second and cost per million tokens tell you how fast and how cheap it is.",
    "A chat template renders system, user and assistant turns; the generation prompt opens the assistant turn.",
    "Reasoning models think step by step before they answer: first the thinking, then the final answer.",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))",
    "你好，世界。模型会一步一步地思考，然后给出答案。",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 1000, prices in USD per million tokens, memory in GB.",
]

VOCAB_SIZE = 400  # 256 byte symbols + merges + specials; small keeps the embedding table tiny


def build_tiny_tokenizer(folder: Path):
    """Train the byte-level BPE tokenizer on CORPUS and save it (tokenizer.json, tokenizer_config.json, chat
    template) into folder; returns the PreTrainedTokenizerFast. No weights: a folder that only a tokenizer is read
    from (a benchmark client's prompt sampling) needs no more."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=[ENDOFTEXT, IM_START, IM_END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(CORPUS, trainer=trainer)

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token=IM_END,
        pad_token=ENDOFTEXT,
        additional_special_tokens=[IM_START, IM_END],
        clean_up_tokenization_spaces=False,
        model_max_length=4096,
    )
    tokenizer.add_tokens([THINK_OPEN, THINK_CLOSE], special_tokens=False)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    return tokenizer


def build_tiny_chat_model(folder: Path, seed: int = 0) -> Path:
    """Write config, random safetensors weights, generation config and a trained tokenizer into folder."""
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    folder = Path(folder)
    tokenizer = build_tiny_tokenizer(folder)

    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=4096,
        tie_word_embeddings=False,
        initializer_range=0.5,  # large random weights give varied greedy output instead of one repeated token
        bos_token_id=tokenizer.convert_tokens_to_ids(ENDOFTEXT),
        eos_token_id=tokenizer.convert_tokens_to_ids(IM_END),
        pad_token_id=tokenizer.convert_tokens_to_ids(ENDOFTEXT),
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config).to(torch.float32)
    model.save_pretrained(folder)  # safetensors is the default serialization
    GenerationConfig(
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
        bos_token_id=config.bos_token_id,
    ).save_pretrained(folder)
    if not list(folder.glob("*.safetensors")):
        raise RuntimeError(f"tiny model build did not write safetensors weights into {folder}")
    return folder


def make_pickle_only_copy(source: Path, dest: Path, marker: Path) -> Path:
    """A copy whose weights are only a pytorch_model.bin pickle that creates `marker` if anyone unpickles it."""
    import torch

    shutil.copytree(source, dest)
    for weights in dest.glob("*.safetensors*"):
        weights.unlink()
    torch.save({"model.embed_tokens.weight": _CreatesFileWhenUnpickled(str(marker))}, dest / "pytorch_model.bin")
    return dest


class _CreatesFileWhenUnpickled:
    """Unpickling this calls open(path, "w"): a harmless stand-in for the code a hostile pickle could run."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def make_custom_code_copy(source: Path, dest: Path, marker: Path, model_type: str | None = None) -> Path:
    """A copy whose config (and tokenizer config) point at custom code through auto_map; importing that code
    creates `marker`. With model_type None the config keeps its native qwen2 type (transformers has local code for
    it); otherwise model_type is replaced by one transformers does not know, so only the custom code could load it.
    """
    shutil.copytree(source, dest)
    (dest / "custom_model.py").write_text(
        "from pathlib import Path\n"
        f"Path({str(marker)!r}).write_text('custom code ran')\n"
        "from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerFast\n"
        "class CustomConfig(PretrainedConfig):\n"
        f"    model_type = {model_type or 'qwen2'!r}\n"
        "class CustomModel(PreTrainedModel):\n"
        "    config_class = CustomConfig\n"
        "class CustomTokenizer(PreTrainedTokenizerFast):\n"
        "    pass\n",
        encoding="utf-8",
    )
    config_path = dest / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["auto_map"] = {
        "AutoConfig": "custom_model.CustomConfig",
        "AutoModelForCausalLM": "custom_model.CustomModel",
    }
    if model_type is not None:
        config["model_type"] = model_type
        config["architectures"] = ["CustomModel"]
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    tokenizer_config_path = dest / "tokenizer_config.json"
    tokenizer_config = json.loads(tokenizer_config_path.read_text(encoding="utf-8"))
    tokenizer_config["auto_map"] = {"AutoTokenizer": [None, "custom_model.CustomTokenizer"]}
    tokenizer_config_path.write_text(json.dumps(tokenizer_config, indent=2), encoding="utf-8")
    return dest
