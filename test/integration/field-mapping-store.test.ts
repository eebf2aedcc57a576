import { describe, expect, it } from "vitest";
import type { CustomFieldMapping } from "../../src/integration/contacts/mapping.ts";
import { newId } from "../../src/lib/ids.ts";
import { dataOf, sqlIn } from "./connection-data-helpers.ts";

const TIER: CustomFieldMapping = {
  apiName: "tier",
  remote: "contract_tier",
  type: "enumeration",
  options: ["silver", "gold"],
  label: "Contract tier",
};
const SEATS: CustomFieldMapping = {
  apiName: "seats",
  remote: "seats",
  type: "number",
  options: null,
  label: "Seats",
};

describe("a connection's custom-field mapping, in its ConnectionData object", () => {
  it("starts empty, is replaced as a whole and read back by API name", async () => {
    const connectionId = newId("conn");
    const data = dataOf(connectionId);
    expect(await data.fieldMappings()).toEqual([]);
    expect(await data.replaceFieldMappings(connectionId, [TIER, SEATS])).toEqual([SEATS, TIER]);
    expect(await data.fieldMappings()).toEqual([SEATS, TIER]);
    expect(await data.replaceFieldMappings(connectionId, [{ ...SEATS, apiName: "seatCount" }])).toEqual([
      { ...SEATS, apiName: "seatCount" },
    ]);
    expect(await data.fieldMappings()).toEqual([{ ...SEATS, apiName: "seatCount" }]);
    expect(await data.replaceFieldMappings(connectionId, [])).toEqual([]);
    expect(await sqlIn(connectionId, "SELECT * FROM field_mappings")).toEqual([]);
  });

  it("is each connection's own", async () => {
    const [a, b] = [newId("conn"), newId("conn")];
    await dataOf(a).replaceFieldMappings(a, [TIER]);
    expect(await dataOf(b).fieldMappings()).toEqual([]);
    expect(await dataOf(a).fieldMappings()).toEqual([TIER]);
  });

  it("a replace naming one API name or one Acme property twice is refused and changes nothing", async () => {
    const connectionId = newId("conn");
    const data = dataOf(connectionId);
    await data.replaceFieldMappings(connectionId, [TIER]);
    expect(
      await data.replaceFieldMappings(connectionId, [SEATS, { ...SEATS, apiName: "seatsAgain" }]),
    ).toBeNull();
    expect(await data.replaceFieldMappings(connectionId, [SEATS, { ...TIER, apiName: "seats" }])).toBeNull();
    expect(await data.fieldMappings()).toEqual([TIER]);
    expect(await sqlIn(connectionId, "SELECT api_name FROM field_mappings")).toEqual([{ api_name: "tier" }]);
  });
});
