// Load an `nnxc export` TorchScript artefact with LibTorch alone and evaluate it.
//
//   evaluate MODEL.pt POINTS.txt
//
// POINTS.txt holds one grid point per line: rho, d_x rho, d_y rho, d_z rho, tau (total density,
// atomic units) and the base functional's energy density (from libxc, named in MODEL.pt.json).
// Prints, per point, the exchange-correlation energy density and its derivatives with respect
// to the five density variables (the potential's ingredients), the base's contribution
// included through the chain rule: dE/dx = de/dx + de/dbase * dbase/dx (the consumer supplies
// dbase/dx from libxc; here the caller adds it). The SHA-256 check against the sidecar is left
// to the caller's build (see docs/pyscf.md); this example shows the LibTorch calls.
#include <torch/script.h>

#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: evaluate MODEL.pt POINTS.txt\n";
    return 2;
  }
  torch::jit::script::Module module = torch::jit::load(argv[1]);
  std::ifstream in(argv[2]);
  std::vector<double> values;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream row(line);
    double v;
    while (row >> v) values.push_back(v);
  }
  const int64_t npoint = static_cast<int64_t>(values.size() / 6);
  auto table = torch::from_blob(values.data(), {npoint, 6}, torch::kFloat64).clone();
  // Features (nspin = 1, nvar = 5, ngrid) and the base energy density (ngrid).
  auto features = table.index({torch::indexing::Slice(), torch::indexing::Slice(0, 5)}).t().unsqueeze(0).contiguous();
  auto base = table.index({torch::indexing::Slice(), 5}).contiguous();
  features.set_requires_grad(true);
  base.set_requires_grad(true);
  auto energy = module.forward({features, base}).toTensor();
  energy.sum().backward();
  auto e = energy.accessor<double, 1>();
  auto dfeatures = features.grad().accessor<double, 3>();
  auto dbase = base.grad().accessor<double, 1>();
  std::cout << std::setprecision(17);
  for (int64_t g = 0; g < npoint; ++g) {
    std::cout << e[g];
    for (int64_t k = 0; k < 5; ++k) std::cout << ' ' << dfeatures[0][k][g];
    std::cout << ' ' << dbase[g] << '\n';
  }
  return 0;
}
