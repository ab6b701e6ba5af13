// Validates Backstage catalog files with @backstage/catalog-model itself: the policies the
// catalog applies when it ingests an entity, then the kind's own schema. Prints one JSON object
// per file ({file, ok, error, sourceLocation}) and exits 1 when any entity is refused.
import { readFileSync } from "node:fs";
import yaml from "js-yaml";
import {
  DefaultNamespaceEntityPolicy,
  EntityPolicies,
  FieldFormatEntityPolicy,
  NoForeignRootFieldsEntityPolicy,
  SchemaValidEntityPolicy,
  componentEntityV1alpha1Validator,
  getEntitySourceLocation,
} from "@backstage/catalog-model";

const policy = EntityPolicies.allOf([
  new DefaultNamespaceEntityPolicy(),
  new NoForeignRootFieldsEntityPolicy(),
  new FieldFormatEntityPolicy(),
  new SchemaValidEntityPolicy(),
]);

let refused = 0;
for (const file of process.argv.slice(2)) {
  const result = { file, ok: false, error: null, sourceLocation: null };
  try {
    for (const document of yaml.loadAll(readFileSync(file, "utf8"))) {
      const entity = await policy.enforce(document);
      if (!(await componentEntityV1alpha1Validator.check(entity))) {
        throw new Error(`not a ${entity.apiVersion} ${entity.kind}`);
      }
      result.sourceLocation = getEntitySourceLocation(entity);
    }
    result.ok = true;
  } catch (error) {
    result.error = String(error.message ?? error);
    refused += 1;
  }
  console.log(JSON.stringify(result));
}
process.exit(refused ? 1 : 0);
