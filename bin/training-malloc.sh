# Sourced by bin/kaizen and deploy/local/cluster before they start a JVM that trains.
# A training step frees its tensors and allocates them again the next; glibc's malloc hands large
# blocks back to the kernel, which faults them in afresh every step (a seventh of a full
# fine-tuning step of SmolLM2-135M's shape in `bench train`). One arena that keeps what it frees,
# as Flink's image gets from jemalloc; a value already set in the environment wins.
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-1}" MALLOC_MMAP_MAX_="${MALLOC_MMAP_MAX_:-0}" \
  MALLOC_TRIM_THRESHOLD_="${MALLOC_TRIM_THRESHOLD_:-17179869184}"
