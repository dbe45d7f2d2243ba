//! Semantic types, unit types and units: the DTDL v2 table (native to `dtmi:dtdl:context;2`)
//! and the v3 table (from `dtmi:dtdl:extension:quantitativeTypes;1`). The two differ: v3
//! adds semantic types (Concentration, EnergyRate, …) and units (ampereHour, gauss, …).

/// Pairs of names: (semantic type, unit type) or (unit type, space-separated units).
type Table = &'static [(&'static str, &'static str)];

/// (semantic type, unit type) for DTDL v2.
const SEMANTIC_V2: &[(&str, &str)] = &[
    ("Acceleration", "AccelerationUnit"),
    ("Angle", "AngleUnit"),
    ("AngularAcceleration", "AngularAccelerationUnit"),
    ("AngularVelocity", "AngularVelocityUnit"),
    ("Area", "AreaUnit"),
    ("Capacitance", "CapacitanceUnit"),
    ("Current", "CurrentUnit"),
    ("DataRate", "DataRateUnit"),
    ("DataSize", "DataSizeUnit"),
    ("Density", "DensityUnit"),
    ("Distance", "LengthUnit"),
    ("ElectricCharge", "ChargeUnit"),
    ("Energy", "EnergyUnit"),
    ("Force", "ForceUnit"),
    ("Frequency", "FrequencyUnit"),
    ("Humidity", "DensityUnit"),
    ("Illuminance", "IlluminanceUnit"),
    ("Inductance", "InductanceUnit"),
    ("Latitude", "AngleUnit"),
    ("Length", "LengthUnit"),
    ("Longitude", "AngleUnit"),
    ("Luminance", "LuminanceUnit"),
    ("Luminosity", "PowerUnit"),
    ("LuminousFlux", "LuminousFluxUnit"),
    ("LuminousIntensity", "LuminousIntensityUnit"),
    ("MagneticFlux", "MagneticFluxUnit"),
    ("MagneticInduction", "MagneticInductionUnit"),
    ("Mass", "MassUnit"),
    ("MassFlowRate", "MassFlowRateUnit"),
    ("Power", "PowerUnit"),
    ("Pressure", "PressureUnit"),
    ("RelativeHumidity", "Unitless"),
    ("Resistance", "ResistanceUnit"),
    ("SoundPressure", "SoundPressureUnit"),
    ("Temperature", "TemperatureUnit"),
    ("Thrust", "ForceUnit"),
    ("TimeSpan", "TimeUnit"),
    ("Torque", "TorqueUnit"),
    ("Velocity", "VelocityUnit"),
    ("Voltage", "VoltageUnit"),
    ("Volume", "VolumeUnit"),
    ("VolumeFlowRate", "VolumeFlowRateUnit"),
];

/// (unit type, units) for DTDL v2.
const UNITS_V2: &[(&str, &str)] = &[
    ("AccelerationUnit", "centimetrePerSecondSquared gForce metrePerSecondSquared"),
    ("AngleUnit", "degreeOfArc minuteOfArc radian secondOfArc turn"),
    ("AngularAccelerationUnit", "radianPerSecondSquared"),
    ("AngularVelocityUnit", "degreePerSecond radianPerSecond revolutionPerMinute revolutionPerSecond"),
    ("AreaUnit", "acre hectare squareCentimetre squareFoot squareInch squareKilometre squareMetre squareMillimetre"),
    ("CapacitanceUnit", "farad microfarad millifarad nanofarad picofarad"),
    ("CurrentUnit", "ampere microampere milliampere"),
    ("DataRateUnit", "bitPerSecond bytePerSecond exbibitPerSecond exbibytePerSecond gibibitPerSecond gibibytePerSecond kibibitPerSecond kibibytePerSecond mebibitPerSecond mebibytePerSecond tebibitPerSecond tebibytePerSecond yobibitPerSecond yobibytePerSecond zebibitPerSecond zebibytePerSecond"),
    ("DataSizeUnit", "bit byte exbibit exbibyte gibibit gibibyte kibibit kibibyte mebibit mebibyte tebibit tebibyte yobibit yobibyte zebibit zebibyte"),
    ("DensityUnit", "gramPerCubicMetre kilogramPerCubicMetre"),
    ("LengthUnit", "astronomicalUnit centimetre foot inch kilometre metre micrometre mile millimetre nanometre nauticalMile"),
    ("ChargeUnit", "coulomb"),
    ("EnergyUnit", "electronvolt gigajoule joule kilojoule kilowattHour megaelectronvolt megajoule"),
    ("ForceUnit", "newton ounce pound ton"),
    ("FrequencyUnit", "gigahertz hertz kilohertz megahertz"),
    ("IlluminanceUnit", "footcandle lux"),
    ("InductanceUnit", "henry microhenry millihenry"),
    ("LuminanceUnit", "candelaPerSquareMetre"),
    ("PowerUnit", "gigawatt horsepower kilowatt kilowattHourPerYear megawatt microwatt milliwatt watt"),
    ("LuminousFluxUnit", "lumen"),
    ("LuminousIntensityUnit", "candela"),
    ("MagneticFluxUnit", "maxwell weber"),
    ("MagneticInductionUnit", "tesla"),
    ("MassUnit", "gram kilogram microgram milligram slug tonne"),
    ("MassFlowRateUnit", "gramPerHour gramPerSecond kilogramPerHour kilogramPerSecond"),
    ("PressureUnit", "bar inchesOfMercury inchesOfWater kilopascal millibar millimetresOfMercury pascal poundPerSquareInch"),
    ("Unitless", "percent unity"),
    ("ResistanceUnit", "kiloohm megaohm milliohm ohm"),
    ("SoundPressureUnit", "bel decibel"),
    ("TemperatureUnit", "degreeCelsius degreeFahrenheit kelvin"),
    ("TimeUnit", "day hour microsecond millisecond minute nanosecond second year"),
    ("TorqueUnit", "newtonMetre"),
    ("VelocityUnit", "centimetrePerSecond kilometrePerHour kilometrePerSecond knot metrePerHour metrePerSecond milePerHour milePerSecond"),
    ("VoltageUnit", "kilovolt megavolt microvolt millivolt volt"),
    ("VolumeUnit", "cubicCentimetre cubicFoot cubicInch cubicMetre fluidOunce gallon litre millilitre"),
    ("VolumeFlowRateUnit", "litrePerHour litrePerSecond millilitrePerHour millilitrePerSecond"),
];

/// (semantic type, unit type) for DTDL v3 QuantitativeTypes v1.
const SEMANTIC_V3: &[(&str, &str)] = &[
    ("Acceleration", "AccelerationUnit"),
    ("Angle", "AngleUnit"),
    ("AngularAcceleration", "AngularAccelerationUnit"),
    ("AngularVelocity", "AngularVelocityUnit"),
    ("ApparentEnergy", "ApparentEnergyUnit"),
    ("ApparentPower", "ApparentPowerUnit"),
    ("Area", "AreaUnit"),
    ("Capacitance", "CapacitanceUnit"),
    ("Concentration", "Unitless"),
    ("Current", "CurrentUnit"),
    ("DataRate", "DataRateUnit"),
    ("DataSize", "DataSizeUnit"),
    ("Density", "DensityUnit"),
    ("Distance", "LengthUnit"),
    ("ElectricCharge", "ChargeUnit"),
    ("Energy", "EnergyUnit"),
    ("EnergyRate", "PowerUnit"),
    ("Force", "ForceUnit"),
    ("Frequency", "FrequencyUnit"),
    ("Humidity", "DensityUnit"),
    ("Illuminance", "IlluminanceUnit"),
    ("Inductance", "InductanceUnit"),
    ("IonizingRadiationDose", "IonizingRadiationDoseUnit"),
    ("Irradiance", "IrradianceUnit"),
    ("Latitude", "AngleUnit"),
    ("Length", "LengthUnit"),
    ("Longitude", "AngleUnit"),
    ("Luminance", "LuminanceUnit"),
    ("Luminosity", "PowerUnit"),
    ("LuminousFlux", "LuminousFluxUnit"),
    ("LuminousIntensity", "LuminousIntensityUnit"),
    ("MagneticFlux", "MagneticFluxUnit"),
    ("MagneticInduction", "MagneticInductionUnit"),
    ("Mass", "MassUnit"),
    ("MassFlowRate", "MassFlowRateUnit"),
    ("Power", "PowerUnit"),
    ("Pressure", "PressureUnit"),
    ("Radioactivity", "RadioactivityUnit"),
    ("ReactiveEnergy", "ReactiveEnergyUnit"),
    ("ReactivePower", "ReactivePowerUnit"),
    ("RelativeDensity", "Unitless"),
    ("RelativeHumidity", "Unitless"),
    ("Resistance", "ResistanceUnit"),
    ("SoundPressure", "SoundPressureUnit"),
    ("Temperature", "TemperatureUnit"),
    ("Thrust", "ForceUnit"),
    ("TimeSpan", "TimeUnit"),
    ("Torque", "TorqueUnit"),
    ("Velocity", "VelocityUnit"),
    ("Voltage", "VoltageUnit"),
    ("Volume", "VolumeUnit"),
    ("VolumeFlowRate", "VolumeFlowRateUnit"),
];

/// (unit type, units) for DTDL v3 QuantitativeTypes v1.
const UNITS_V3: &[(&str, &str)] = &[
    ("AccelerationUnit", "centimetrePerSecondSquared gForce metrePerSecondSquared"),
    ("AngleUnit", "degreeOfArc minuteOfArc radian secondOfArc turn"),
    ("AngularAccelerationUnit", "radianPerSecondSquared"),
    ("AngularVelocityUnit", "degreePerSecond radianPerSecond revolutionPerMinute revolutionPerSecond"),
    ("ApparentEnergyUnit", "gigavoltAmpereHour kilovoltAmpereHour megavoltAmpereHour voltAmpereHour"),
    ("ApparentPowerUnit", "gigavoltAmpere kilovoltAmpere megavoltAmpere millivoltAmpere voltAmpere"),
    ("AreaUnit", "acre hectare squareCentimetre squareFoot squareInch squareKilometre squareMetre squareMillimetre"),
    ("CapacitanceUnit", "farad microfarad millifarad nanofarad picofarad"),
    ("Unitless", "partsPerBillion partsPerMillion partsPerQuadrillion partsPerTrillion percent unity"),
    ("CurrentUnit", "ampere kiloampere microampere milliampere"),
    ("DataRateUnit", "bitPerSecond bytePerSecond exbibitPerSecond exbibytePerSecond gibibitPerSecond gibibytePerSecond kibibitPerSecond kibibytePerSecond mebibitPerSecond mebibytePerSecond tebibitPerSecond tebibytePerSecond yobibitPerSecond yobibytePerSecond zebibitPerSecond zebibytePerSecond"),
    ("DataSizeUnit", "bit byte exbibit exbibyte gibibit gibibyte kibibit kibibyte mebibit mebibyte tebibit tebibyte yobibit yobibyte zebibit zebibyte"),
    ("DensityUnit", "gramPerCubicMetre kilogramPerCubicMetre microgramPerCubicMetre milligramPerCubicMetre"),
    ("LengthUnit", "astronomicalUnit centimetre foot inch kilometre metre micrometre mile millimetre nanometre nauticalMile"),
    ("ChargeUnit", "ampereHour coulomb milliampereHour"),
    ("EnergyUnit", "britishThermalUnit electronvolt gigajoule gigawattHour joule kiloBritishThermalUnit kilojoule kilowattHour megaelectronvolt megajoule megawattHour milliwattHour terawattHour wattHour"),
    ("PowerUnit", "britishThermalUnitPerHour gigajoulePerHour gigawatt horsepower joulePerHour joulePerSecond kiloBritishThermalUnitPerHour kilojoulePerHour kilojoulePerSecond kilowatt kilowattHourPerYear megajoulePerHour megawatt microwatt milliwatt tonOfRefrigeration watt"),
    ("ForceUnit", "newton ounce pound ton"),
    ("FrequencyUnit", "gigahertz hertz kilohertz megahertz millihertz"),
    ("IlluminanceUnit", "footcandle lux"),
    ("InductanceUnit", "henry microhenry millihenry"),
    ("IonizingRadiationDoseUnit", "gray microgray microsievert milligray millisievert sievert"),
    ("IrradianceUnit", "wattPerSquareMetre"),
    ("LuminanceUnit", "candelaPerSquareMetre"),
    ("LuminousFluxUnit", "lumen"),
    ("LuminousIntensityUnit", "candela"),
    ("MagneticFluxUnit", "maxwell weber"),
    ("MagneticInductionUnit", "gauss tesla"),
    ("MassUnit", "gram kilogram massPound microgram milligram slug tonne"),
    ("MassFlowRateUnit", "gramPerHour gramPerSecond kilogramPerHour kilogramPerSecond massPoundPerHour"),
    ("PressureUnit", "bar decapascal hectopascal inchesOfMercury inchesOfWater kilopascal millibar millimetresOfMercury pascal poundPerSquareInch"),
    ("RadioactivityUnit", "becquerel gigabecquerel kilobecquerel megabecquerel"),
    ("ReactiveEnergyUnit", "gigavoltAmpereReactiveHour kilovoltAmpereReactiveHour megavoltAmpereReactiveHour voltAmpereReactiveHour"),
    ("ReactivePowerUnit", "gigavoltAmpereReactive kilovoltAmpereReactive megavoltAmpereReactive millivoltAmpereReactive voltAmpereReactive"),
    ("ResistanceUnit", "kiloohm megaohm milliohm ohm"),
    ("SoundPressureUnit", "bel decibel"),
    ("TemperatureUnit", "degreeCelsius degreeFahrenheit kelvin"),
    ("TimeUnit", "day hour microsecond millisecond minute nanosecond second year"),
    ("TorqueUnit", "newtonMetre"),
    ("VelocityUnit", "centimetrePerSecond kilometrePerHour kilometrePerSecond knot metrePerHour metrePerSecond milePerHour milePerSecond"),
    ("VoltageUnit", "kilovolt megavolt microvolt millivolt volt"),
    ("VolumeUnit", "cubicCentimetre cubicFoot cubicInch cubicMetre fluidOunce gallon litre millilitre"),
    ("VolumeFlowRateUnit", "cubicFootPerMinute cubicMetrePerHour cubicMetrePerMinute cubicMetrePerSecond gallonPerHour gallonPerMinute litrePerHour litrePerMinute litrePerSecond millilitrePerHour millilitrePerMinute millilitrePerSecond"),
];

/// Unit prefixes: terms of the v2 context, not usable as units.
const PREFIXES_V2: &str = "atto centi deci deka exa exbi femto gibi giga hecto kibi kilo mebi mega micro milli nano pebi peta pico tebi tera yobi yocto yotta zebi zepto zetta";
/// Unit prefixes of QuantitativeTypes v1 (which spells `deca`).
const PREFIXES_V3: &str = "atto centi deca deci exa exbi femto gibi giga hecto kibi kilo mebi mega micro milli nano pebi peta pico tebi tera yobi yocto yotta zebi zepto zetta";

/// QuantitativeTypes v1 prefix for the IRIs of its unit types (Enums) and units (EnumValues).
const QT_ENUM: &str = "dtmi:dtdl:extension:quantitativeTypes:v1:enum:";
const QT_UNIT: &str = "dtmi:dtdl:extension:quantitativeTypes:v1:unit:";

fn tables(version: u8) -> (Table, Table) {
    if version == 2 {
        (SEMANTIC_V2, UNITS_V2)
    } else {
        (SEMANTIC_V3, UNITS_V3)
    }
}

/// The unit type of semantic type `name`, if `name` is one in this version's table.
pub fn semantic_unit_type(version: u8, name: &str) -> Option<&'static str> {
    tables(version)
        .0
        .iter()
        .find(|(s, _)| *s == name)
        .map(|(_, u)| *u)
}

/// Whether `unit` belongs to `unit_type` in this version's table.
pub fn unit_in_type(version: u8, unit_type: &str, unit: &str) -> bool {
    tables(version)
        .1
        .iter()
        .any(|(t, units)| *t == unit_type && units.split(' ').any(|u| u == unit))
}

/// Whether `name` is a unit of any type.
pub fn is_unit(version: u8, name: &str) -> bool {
    tables(version)
        .1
        .iter()
        .any(|(_, units)| units.split(' ').any(|u| u == name))
}

/// Whether `name` is a unit type (`LengthUnit`, `Unitless`, …).
pub fn is_unit_type(version: u8, name: &str) -> bool {
    tables(version).1.iter().any(|(t, _)| *t == name)
}

/// Whether `name` is a term the semantic-type vocabulary defines (semantic type, unit type,
/// unit, prefix, or the vocabulary's own class and property names).
pub fn is_vocabulary_term(version: u8, name: &str) -> bool {
    let (sem, units) = tables(version);
    let prefixes = if version == 2 {
        PREFIXES_V2
    } else {
        PREFIXES_V3
    };
    sem.iter().any(|(s, _)| *s == name)
        || units.iter().any(|(t, _)| *t == name)
        || is_unit(version, name)
        || prefixes.split(' ').any(|p| p == name)
        || is_property_term(name)
        || matches!(
            name,
            "SemanticType"
                | "SemanticUnit"
                | "Unit"
                | "UnitAttribute"
                | "QuantitativeType"
                | "DecimalPrefix"
                | "BinaryPrefix"
                | "DecimalUnit"
                | "BinaryUnit"
                | "RatioUnit"
                | "exponent"
                | "symbol"
        )
        || (version >= 3 && matches!(name, "SymbolicUnit" | "UnitPrefix" | "EnergyRateUnit"))
}

/// Whether `name` is a property the semantic-type vocabulary defines.
pub fn is_property_term(name: &str) -> bool {
    matches!(
        name,
        "unit" | "baseUnit" | "topUnit" | "bottomUnit" | "prefix"
    )
}

/// The unit type a QuantitativeTypes v1 schema value names (term or Enum IRI), e.g.
/// `TemperatureUnit`: in v3 unit types are Enums whose values are the units.
pub fn unit_type_schema(s: &str) -> Option<&'static str> {
    let name = s.strip_prefix(QT_ENUM).unwrap_or(s);
    // The context defines EnergyRateUnit as another name of the PowerUnit Enum.
    let name = if name == "EnergyRateUnit" {
        "PowerUnit"
    } else {
        name
    };
    UNITS_V3.iter().find(|(t, _)| *t == name).map(|(t, _)| *t)
}

/// The units of a unit type, in table order.
pub fn units_of(version: u8, unit_type: &str) -> impl Iterator<Item = &'static str> + '_ {
    tables(version)
        .1
        .iter()
        .filter(move |(t, _)| *t == unit_type)
        .flat_map(|(_, units)| units.split(' '))
}

/// The unit a unit IRI names: `dtmi:standard:unit:<u>;2` in v2, the QuantitativeTypes v1
/// `…:unit:<u>` in v3.
pub fn unit_from_iri(version: u8, s: &str) -> Option<&str> {
    let name = if version == 2 {
        s.strip_prefix("dtmi:standard:unit:")?.strip_suffix(";2")?
    } else {
        s.strip_prefix(QT_UNIT)?
    };
    is_unit(version, name).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_pairs() {
        assert_eq!(semantic_unit_type(2, "Humidity"), Some("DensityUnit"));
        assert_eq!(semantic_unit_type(3, "Luminosity"), Some("PowerUnit"));
        assert_eq!(semantic_unit_type(2, "Concentration"), None);
        assert!(unit_in_type(2, "Unitless", "percent"));
        assert!(!unit_in_type(2, "Unitless", "partsPerMillion"));
        assert!(unit_in_type(3, "Unitless", "partsPerMillion"));
        assert!(unit_in_type(3, "TemperatureUnit", "kelvin"));
        assert!(!unit_in_type(3, "TemperatureUnit", "metre"));
        assert!(is_vocabulary_term(2, "kilo"));
        assert!(!is_vocabulary_term(2, "Foobar"));
        assert!(is_vocabulary_term(2, "deka") && !is_vocabulary_term(3, "deka"));
        assert!(is_vocabulary_term(3, "deca") && is_vocabulary_term(3, "EnergyRateUnit"));
    }

    #[test]
    fn unit_types_are_enums_in_v3() {
        assert_eq!(unit_type_schema("TemperatureUnit"), Some("TemperatureUnit"));
        assert_eq!(
            unit_type_schema("dtmi:dtdl:extension:quantitativeTypes:v1:enum:Unitless"),
            Some("Unitless")
        );
        assert_eq!(unit_type_schema("EnergyRateUnit"), Some("PowerUnit"));
        assert_eq!(unit_type_schema("Temperature"), None);
        assert_eq!(
            units_of(3, "TemperatureUnit").collect::<Vec<_>>(),
            ["degreeCelsius", "degreeFahrenheit", "kelvin"]
        );
        assert_eq!(
            unit_from_iri(3, "dtmi:dtdl:extension:quantitativeTypes:v1:unit:kelvin"),
            Some("kelvin")
        );
        assert_eq!(unit_from_iri(3, "dtmi:standard:unit:kelvin;3"), None);
        assert_eq!(
            unit_from_iri(2, "dtmi:standard:unit:kelvin;2"),
            Some("kelvin")
        );
    }
}
