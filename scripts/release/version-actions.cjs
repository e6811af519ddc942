// nx release's version actions for this workspace's npm packages: the
// version lives in each package.json, and workspace dependencies are pinned
// to the exact version of the package they name. (Nx's own implementation
// comes with @nx/js, which this workspace does not otherwise need.)
const { join } = require('node:path');
const { VersionActions } = require('nx/release');

const COLLECTIONS = ['dependencies', 'devDependencies', 'peerDependencies', 'optionalDependencies'];

function readJson(tree, path) {
  return JSON.parse(tree.read(path, 'utf-8'));
}

function writeJson(tree, path, value) {
  tree.write(path, JSON.stringify(value, null, 2) + '\n');
}

function packageName(projectGraph, project) {
  return projectGraph.nodes[project]?.data?.metadata?.js?.packageName ?? project;
}

class PackageJsonVersionActions extends VersionActions {
  validManifestFilenames = ['package.json'];

  async readCurrentVersionFromSourceManifest(tree) {
    const manifestPath = join(this.projectGraphNode.data.root, 'package.json');
    return { currentVersion: readJson(tree, manifestPath).version, manifestPath };
  }

  async readCurrentVersionFromRegistry() {
    return null; // versions come from disk (release.version.currentVersionResolver)
  }

  async readCurrentVersionOfDependency(tree, projectGraph, dependency) {
    const pkg = readJson(tree, join(this.projectGraphNode.data.root, 'package.json'));
    const name = packageName(projectGraph, dependency);
    for (const collection of COLLECTIONS) {
      if (pkg[collection]?.[name] !== undefined) return { currentVersion: pkg[collection][name], dependencyCollection: collection };
    }
    return { currentVersion: null, dependencyCollection: null };
  }

  async updateProjectVersion(tree, newVersion) {
    const logs = [];
    for (const { manifestPath } of this.manifestsToUpdate) {
      const pkg = readJson(tree, manifestPath);
      pkg.version = newVersion;
      writeJson(tree, manifestPath, pkg);
      logs.push(`New version ${newVersion} written to manifest: ${manifestPath}`);
    }
    return logs;
  }

  async updateProjectDependencies(tree, projectGraph, dependenciesToUpdate) {
    const logs = [];
    for (const { manifestPath } of this.manifestsToUpdate) {
      const pkg = readJson(tree, manifestPath);
      let changed = 0;
      for (const [project, version] of Object.entries(dependenciesToUpdate)) {
        const name = packageName(projectGraph, project);
        for (const collection of COLLECTIONS) {
          if (pkg[collection]?.[name] !== undefined) {
            pkg[collection][name] = version;
            changed++;
          }
        }
      }
      if (changed) {
        writeJson(tree, manifestPath, pkg);
        logs.push(`Updated ${changed} dependenc${changed === 1 ? 'y' : 'ies'} in manifest: ${manifestPath}`);
      }
    }
    return logs;
  }
}

module.exports = PackageJsonVersionActions;
module.exports.default = PackageJsonVersionActions;
