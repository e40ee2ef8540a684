print("hydra-nri-sim")
