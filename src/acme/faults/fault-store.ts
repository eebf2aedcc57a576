import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { settings } from "../db/schema.ts";
import {
  DEFAULT_FAULT_PROFILE,
  type FaultProfile,
  FaultProfileSchema,
  seededRandom,
} from "./fault-profile.ts";

const PROFILE_KEY = "fault_profile";
/** How long an isolate trusts its copy of the profile before reading D1 again. */
const REFRESH_MS = 1000;

interface ActiveProfile {
  json: string;
  profile: FaultProfile;
  random: () => number;
  sequence: number;
  loadedAt: number;
}

// The profile and its random stream live per isolate: one `wrangler dev` process replays the
// seeded sequence exactly; across many isolates each runs its own copy of the sequence.
let active: ActiveProfile | null = null;

/** Requests this isolate's fault layer saw, and faults it injected, since the profile last changed. */
export interface FaultTraffic {
  requests: number;
  injected: number;
  since: string;
}

let traffic: FaultTraffic = { requests: 0, injected: 0, since: new Date().toISOString() };

export function countTraffic(injected: boolean): void {
  traffic.requests += 1;
  if (injected) traffic.injected += 1;
}

export function faultTraffic(): FaultTraffic {
  return { ...traffic };
}

function activate(json: string, now: number): ActiveProfile {
  if (active && active.json === json) {
    active.loadedAt = now;
    return active;
  }
  const profile = FaultProfileSchema.parse(JSON.parse(json));
  active = { json, profile, random: seededRandom(profile.seed), sequence: 0, loadedAt: now };
  traffic = { requests: 0, injected: 0, since: new Date(now).toISOString() };
  return active;
}

/** The stored profile as JSON, or null when none was ever stored. */
async function storedProfileJson(db: D1Database): Promise<string | null> {
  const row = await drizzle(db).select().from(settings).where(eq(settings.key, PROFILE_KEY)).get();
  return row?.value ?? null;
}

export async function readFaultProfile(db: D1Database): Promise<FaultProfile> {
  const json = await storedProfileJson(db);
  return json ? FaultProfileSchema.parse(JSON.parse(json)) : DEFAULT_FAULT_PROFILE;
}

export async function writeFaultProfile(db: D1Database, profile: FaultProfile): Promise<void> {
  const value = JSON.stringify(profile);
  const updatedAt = new Date().toISOString();
  await drizzle(db)
    .insert(settings)
    .values({ key: PROFILE_KEY, value, updatedAt })
    .onConflictDoUpdate({ target: settings.key, set: { value, updatedAt } });
  activate(value, Date.now());
}

/** The profile in force plus the next draw of its seeded sequence. */
export async function nextFaultDraw(
  db: D1Database,
  now: number = Date.now(),
): Promise<{ profile: FaultProfile; sequence: number; random: () => number }> {
  if (!active || now - active.loadedAt > REFRESH_MS) {
    activate((await storedProfileJson(db)) ?? JSON.stringify(DEFAULT_FAULT_PROFILE), now);
  }
  const current = active as ActiveProfile;
  const sequence = current.sequence++;
  return { profile: current.profile, sequence, random: current.random };
}
