#include "hydra_backend.h"
