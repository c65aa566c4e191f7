"""A real KV-cache GPT in PyTorch behind a generate() that follows Hugging Face's documented
contract (transformers' GenerationMixin: _sample, _beam_search, assisted decoding,
prefill_chunk_size): each step calls self(**model_inputs) with input_ids (or inputs_embeds
at prefill), attention_mask over every position so far, past_key_values, cache_position;
logits processors and sampling run between the forward passes; finished rows are padded
with pad_token_id; with only inputs_embeds the output holds the new tokens only."""
import math

import torch
from torch import nn


class Output:
    def __init__(self, logits, past_key_values):
        self.logits, self.past_key_values = logits, past_key_values


class GenerationConfig:
    def __init__(self, eos_token_id=None, pad_token_id=0):
        self.eos_token_id, self.pad_token_id = eos_token_id, pad_token_id


class CausalSelfAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads, self.qkv, self.proj = heads, nn.Linear(d, 3 * d), nn.Linear(d, d)

    def forward(self, x, past, positions, mask):
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        keys = torch.arange(k.shape[2])
        allowed = keys[None, :] <= positions[:, None]                      # causal
        allowed = allowed[None, None] & mask[:, None, None, :k.shape[2]].bool()
        att = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
        att = att.masked_fill(~allowed, float("-inf")).softmax(-1).nan_to_num(0.0)
        y = (att @ v).transpose(1, 2).reshape(b, t, d)
        return self.proj(y), (k, v)


class MLP(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc, self.proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        return self.proj(torch.relu(self.fc(x)))


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln_1, self.attn = nn.LayerNorm(d), CausalSelfAttention(d, heads)
        self.ln_2, self.mlp = nn.LayerNorm(d), MLP(d)

    def forward(self, x, past, positions, mask):
        a, kv = self.attn(self.ln_1(x), past, positions, mask)
        x = x + a
        return x + self.mlp(self.ln_2(x)), kv


class TinyGPT(nn.Module):
    def __init__(self, vocab=40, d=16, heads=2, layers=2, ctx=96, eos=None, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(ctx, d)
        self.h = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln_f, self.lm_head = nn.LayerNorm(d), nn.Linear(d, vocab, bias=False)
        self.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=0)
        self.on_generate = None              # a test's hook: called as generate() starts

    def get_input_embeddings(self):
        return self.wte

    def forward(self, input_ids=None, attention_mask=None, past_key_values=None,
                cache_position=None, inputs_embeds=None, use_cache=True):
        x = self.wte(input_ids) if inputs_embeds is None else inputs_embeds
        b, t = x.shape[0], x.shape[1]
        past_len = past_key_values[0][0].shape[2] if past_key_values else 0
        if cache_position is None:
            cache_position = torch.arange(past_len, past_len + t)
        if attention_mask is None:
            attention_mask = torch.ones(b, past_len + t, dtype=torch.long)
        x = x + self.wpe(cache_position)[None]
        cache = []
        for i, block in enumerate(self.h):
            x, kv = block(x, past_key_values[i] if past_key_values else None, cache_position,
                          attention_mask)
            cache.append(kv)
        return Output(self.lm_head(self.ln_f(x)), tuple(cache) if use_cache else None)

    # ---- generate(), as transformers' GenerationMixin calls the model ----------------------
    @torch.no_grad()
    def generate(self, input_ids=None, attention_mask=None, inputs_embeds=None,
                 max_new_tokens=4, num_beams=1, logits_processor=(), use_cache=True,
                 prefill_chunk_size=None, assistant_model=None, num_assistant_tokens=4,
                 do_sample=False, generation_config=None):
        if self.on_generate:
            self.on_generate()
        eos = (generation_config or self.generation_config).eos_token_id
        pad = (generation_config or self.generation_config).pad_token_id
        prompt = input_ids if input_ids is not None else inputs_embeds
        b, plen = prompt.shape[0], prompt.shape[1]
        if attention_mask is None:
            attention_mask = torch.ones(b, plen, dtype=torch.long)
        if num_beams > 1:                     # _expand_inputs_for_generation
            expand = lambda z: None if z is None else z.repeat_interleave(num_beams, dim=0)
            input_ids, inputs_embeds, attention_mask = (expand(input_ids), expand(inputs_embeds),
                                                        expand(attention_mask))
        seq = input_ids if input_ids is not None else torch.zeros(b * num_beams, 0,
                                                                   dtype=torch.long)
        out, cache = self._prefill(input_ids, inputs_embeds, attention_mask, use_cache,
                                   prefill_chunk_size)
        if assistant_model is not None:
            return self._assisted(seq, attention_mask, out, cache, assistant_model,
                                  max_new_tokens, num_assistant_tokens, logits_processor)
        beam_scores = torch.zeros(b, num_beams)
        beam_scores[:, 1:] = -1e9
        done = torch.zeros(seq.shape[0], dtype=torch.bool)
        for step in range(max_new_tokens):
            scores = out.logits[:, -1, :].log_softmax(-1)
            for proc in logits_processor:                   # between forward passes
                scores = proc(seq, scores)
            if num_beams > 1:
                nxt, order, beam_scores = self._beam_step(scores, beam_scores, b, num_beams)
                seq, attention_mask = seq[order], attention_mask[order]
                cache = tuple((k[order], v[order]) for k, v in cache) if cache else None
            elif do_sample:
                nxt = torch.multinomial(scores.softmax(-1), 1).squeeze(1)
            else:
                nxt = scores.argmax(-1)
            nxt = torch.where(done, torch.full_like(nxt, pad), nxt)
            if eos is not None:
                done = done | (nxt == eos)
            seq = torch.cat([seq, nxt[:, None]], dim=1)
            attention_mask = torch.cat([attention_mask, torch.ones_like(nxt)[:, None]], dim=1)
            if step == max_new_tokens - 1 or bool(done.all()):
                break
            pos = attention_mask.shape[1] - 1
            if use_cache:
                out = self(input_ids=nxt[:, None], attention_mask=attention_mask,
                           past_key_values=cache, cache_position=torch.tensor([pos]))
                cache = out.past_key_values
            else:
                full = seq if input_ids is not None else None
                out = self(input_ids=full, attention_mask=attention_mask, use_cache=False)
        if num_beams > 1:
            best = beam_scores.argmax(-1) + torch.arange(b) * num_beams
            seq = seq[best]
        return seq

    def _prefill(self, ids, embeds, mask, use_cache, chunk):
        total = (ids if ids is not None else embeds).shape[1]
        step = chunk or total
        cache, out = None, None
        for lo in range(0, total, step):
            hi = min(lo + step, total)
            part = {"input_ids": ids[:, lo:hi]} if ids is not None else \
                {"inputs_embeds": embeds[:, lo:hi]}
            out = self(**part, attention_mask=mask[:, :hi], past_key_values=cache,
                       cache_position=torch.arange(lo, hi), use_cache=use_cache)
            cache = out.past_key_values
        return out, cache

    @staticmethod
    def _beam_step(scores, beam_scores, b, beams):
        vocab = scores.shape[-1]
        total = (beam_scores.view(-1, 1) + scores).view(b, beams * vocab)
        top, idx = total.topk(beams, dim=1)
        order = (idx // vocab + torch.arange(b)[:, None] * beams).view(-1)
        return (idx % vocab).view(-1), order, top

    def _assisted(self, seq, mask, out, cache, assistant, max_new, k, processors):
        """Assisted decoding: the assistant proposes k tokens, this model checks them all in
        one forward pass and keeps the agreeing prefix plus its own next token."""
        start = seq.shape[1]
        nxt = out.logits[:, -1, :].argmax(-1)
        seq = torch.cat([seq, nxt[:, None]], dim=1)
        mask = torch.cat([mask, torch.ones_like(nxt)[:, None]], dim=1)
        while seq.shape[1] - start < max_new:
            want = min(k, max_new - (seq.shape[1] - start))
            cand = assistant.generate(input_ids=seq, attention_mask=mask, max_new_tokens=want)
            new = cand[:, seq.shape[1] - 1:]                 # last kept token + proposals
            cur = seq.shape[1] - 1
            cmask = torch.ones(seq.shape[0], cand.shape[1], dtype=torch.long)
            out = self(input_ids=new, attention_mask=cmask, past_key_values=cache,
                       cache_position=torch.arange(cur, cur + new.shape[1]))
            scores = out.logits.log_softmax(-1)
            for proc in processors:
                scores = proc(cand, scores)
            mine = scores.argmax(-1)                         # this model's choice per position
            agree = (mine[:, :-1] == new[:, 1:]).all(0).long().cumprod(0).sum().item()
            keep = torch.cat([new[:, 1:1 + agree], mine[:, agree:agree + 1]], dim=1)
            keep = keep[:, :max_new - (seq.shape[1] - start)]
            seq = torch.cat([seq, keep], dim=1)
            mask = torch.ones(seq.shape[0], seq.shape[1], dtype=torch.long)
            kept = seq.shape[1] - 1
            cache = tuple((kk[:, :, :kept], vv[:, :, :kept]) for kk, vv in out.past_key_values)
        return seq


def left_padded(rows, pad=0):
    """input_ids and attention_mask of a left-padded batch."""
    width = max(len(r) for r in rows)
    ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    return ids, mask
