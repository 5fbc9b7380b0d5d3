"""What shapes the training signal beside a family's networks: the adversarial losses, DiffAugment,
and CycleGAN's pool of past fakes. Imports only the ground floor."""
