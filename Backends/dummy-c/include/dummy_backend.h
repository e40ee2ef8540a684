/* The C backend exports only its entry symbol, declared in hydra_backend.h. */
