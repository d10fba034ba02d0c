//! `ocpp-bulk fleet generate`: a fleet file of any size, to try `serve` + `sim` at scale. Tokens
//! and charger passwords are random, in clear only in the file (as in any fleet file); the tokens
//! are also told once on standard error, so the file can go straight to `import`.

use shared::domain::fleet::{Fleet, FleetCharger, FleetToken};
use uuid::Uuid;

/// A random secret: 32 hexadecimal digits from the system's random source (UUID v4).
fn secret() -> String {
    Uuid::new_v4().simple().to_string()
}

/// `chargers` chargers `CP000000…` spread round-robin over `teams` teams `team-1…`, one token
/// per team (user `operator-k`) and one `admin` token for every team; `passwords`: each charger
/// gets its own (HTTP Basic at the handshake).
pub fn generate(chargers: usize, teams: usize, passwords: bool) -> Fleet {
    let teams = teams.max(1);
    let team = |k: usize| format!("team-{}", k + 1);
    let mut tokens: Vec<FleetToken> = (0..teams)
        .map(|k| FleetToken { token: secret(), user: format!("operator-{}", k + 1), teams: vec![team(k)] })
        .collect();
    tokens.push(FleetToken { token: secret(), user: "admin".into(), teams: (0..teams).map(team).collect() });
    let chargers = (0..chargers)
        .map(|i| FleetCharger {
            uuid: Uuid::new_v4(),
            identity: format!("CP{i:06}"),
            reference: Some(format!("Bay {}", i + 1)),
            team: team(i % teams),
            password: passwords.then(secret),
        })
        .collect();
    Fleet { tokens, chargers }
}

/// The one-time notice of the tokens, for standard error.
pub fn notice(fleet: &Fleet) -> String {
    let mut out = format!(
        "fleet: {} chargers, {} tokens (secrets in clear only in this file; `ocpp-bulk import` stores them hashed)\n",
        fleet.chargers.len(),
        fleet.tokens.len()
    );
    for token in &fleet.tokens {
        out.push_str(&format!("  token for {:<12} ({}): {}\n", token.user, token.teams.join(", "), token.token));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_fleet_is_valid_and_spread_over_its_teams() {
        let fleet = generate(10, 3, true);
        assert_eq!(fleet.chargers.len(), 10);
        assert_eq!(fleet.tokens.len(), 4);
        let provisioned = fleet.provision().expect("a generated fleet provisions");
        assert_eq!(provisioned.chargers.len(), 10);
        assert!(fleet.chargers.iter().all(|c| c.password.as_ref().is_some_and(|p| p.len() == 32)));
        assert_eq!(fleet.chargers.iter().filter(|c| c.team == "team-2").count(), 3);
        assert!(notice(&fleet).contains(&fleet.tokens[3].token));
    }
}
