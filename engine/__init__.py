"""Yinshi's poetry engine: corpus, prosody, generators, decoding, evaluation and serving."""
