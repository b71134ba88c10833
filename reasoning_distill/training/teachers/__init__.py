"""Where the white-box stage's teacher distributions come from: a model in memory (`local`), a
top-k cache on disk (`cache`, its shards and codec), a vLLM server (`served`) or vLLM's offline
engine (`vllm_offline`)."""
