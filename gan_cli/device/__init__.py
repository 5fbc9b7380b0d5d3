"""Where and how the maths runs: the device and number format, the machine's description, memory
budgets, and the processes of a data-parallel run. Imports only the ground floor and networks (the
precision probe times a DCGAN step)."""
