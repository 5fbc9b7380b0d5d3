"""The console scripts (gan-train, gan-sample, gan-eval, gan-train-ddp) and what only they use:
their help, the pre-flight checks, config composition from the command line, the DDP launcher and
Hydra's multirun table. Imports anything below; nothing below imports it."""
