"""Chat templates by name: each renders a conversation token for token as its model family's own template does.

They are written so that every conversation renders as a prefix of itself with one more turn (the training
script learns each turn's tokens from that difference): the family's own template is kept where it already is,
and where it is not (Qwen3 drops earlier turns' reasoning) the named one renders every assistant turn the way the
family renders the last one. tests/render/test_chat_templates.py checks each against the family's real template.
"""

from __future__ import annotations

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
LLAMA3 = (
    "{{ bos_token }}{% for message in messages %}<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n"
    "{{ message['content'] | trim }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
# Llama 2 chat: a system message goes inside the first user turn, between <<SYS>> markers.
LLAMA2 = (
    "{% set system = messages[0]['content'] if messages and messages[0]['role'] == 'system' else none %}"
    "{% for message in messages if message['role'] != 'system' %}"
    "{% if message['role'] == 'user' %}{{ bos_token }}[INST] "
    "{% if loop.first and system is not none %}<<SYS>>\n{{ system }}\n<</SYS>>\n\n{% endif %}"
    "{{ message['content'] | trim }} [/INST]"
    "{% else %} {{ message['content'] | trim }} {{ eos_token }}{% endif %}{% endfor %}"
)
# Mistral instruct: like Llama 2 without spaces around answers; a system message opens the first user turn.
MISTRAL = (
    "{{ bos_token }}{% set system = messages[0]['content'] if messages and messages[0]['role'] == 'system' else none %}"
    "{% for message in messages if message['role'] != 'system' %}"
    "{% if message['role'] == 'user' %}[INST] {% if loop.first and system is not none %}{{ system }}\n\n{% endif %}"
    "{{ message['content'] }} [/INST]{% else %}{{ message['content'] }}{{ eos_token }}{% endif %}{% endfor %}"
)
# Qwen 2.5: ChatML, with Qwen's default system message when the conversation has none.
QWEN25 = (
    "{% if not messages or messages[0]['role'] != 'system' %}<|im_start|>system\n"
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n{% endif %}"
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Qwen 3: ChatML; an assistant turn opens with its reasoning in <think> tags, empty when it has none.
QWEN3 = (
    "{% for message in messages %}{% if message['role'] == 'assistant' %}"
    "{% set content = message['content'] %}{% set thought = '' %}"
    "{% if '</think>' in content %}{% set thought = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1]"
    ".lstrip('\\n') %}{% set content = content.split('</think>')[-1].lstrip('\\n') %}{% endif %}"
    "<|im_start|>assistant\n<think>\n{{ thought.strip('\\n') }}\n</think>\n\n{{ content.lstrip('\\n') }}<|im_end|>\n"
    "{% else %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Gemma: the assistant is `model`; a system message opens the first user turn.
GEMMA = (
    "{{ bos_token }}{% set system = messages[0]['content'] | trim if messages and messages[0]['role'] == 'system' "
    "else none %}{% for message in messages if message['role'] != 'system' %}"
    "<start_of_turn>{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n"
    "{% if loop.first and system is not none %}{{ system }}\n\n{% endif %}"
    "{{ message['content'] | trim }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
# Phi-3 instruct: <|role|> headers, each turn closed by <|end|>.
PHI3 = (
    "{{ bos_token }}{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
CHAT_TEMPLATES = {
    "chatml": CHATML,
    "llama3": LLAMA3,
    "llama2": LLAMA2,
    "mistral": MISTRAL,
    "qwen2.5": QWEN25,
    "qwen3": QWEN3,
    "gemma": GEMMA,
    "phi-3": PHI3,
}
